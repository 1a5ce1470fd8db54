using Batchyard.Dashboard.Model;
using Batchyard.Datasets;

namespace Batchyard.Dashboard.Tests.Model;

public sealed class DatasetGraphTests
{
    private static DatasetInfo Dataset(string name, string[] producers, string[] consumers) => new()
    {
        Name = name,
        Producers = [.. producers.Select(p => p.Split('.')).Select(p => new DatasetProducer { DagId = p[0], TaskId = p[1] })],
        Consumers = [.. consumers],
    };

    [Fact]
    public void Compute_ProducersDatasetsConsumers_AreThreeColumnsJoinedLeftToRight()
    {
        var graph = DatasetGraph.Compute(
        [
            Dataset("labels", ["etl.labels"], ["train"]),
            Dataset("features", ["etl.features", "etl.labels"], ["train", "report"]),
        ]);

        var producers = graph.Nodes.Where(n => n.Kind == DatasetNodeKind.Producer).ToList();
        var datasets = graph.Nodes.Where(n => n.Kind == DatasetNodeKind.Dataset).ToList();
        var consumers = graph.Nodes.Where(n => n.Kind == DatasetNodeKind.Consumer).ToList();
        // Datasets by name; a producer or consumer once, where it is first met.
        Assert.Equal(["features", "labels"], datasets.Select(n => n.Label));
        Assert.Equal(["etl.features", "etl.labels"], producers.Select(n => n.Label));
        Assert.Equal(["train", "report"], consumers.Select(n => n.Label));
        Assert.All(producers, p => Assert.True(p.X < datasets[0].X));
        Assert.All(consumers, c => Assert.True(c.X > datasets[0].X));
        Assert.True(datasets[0].Y < datasets[1].Y);

        Assert.Equal(6, graph.Edges.Length);
        Assert.Contains(("producer:etl/labels", "dataset:features"), graph.Edges);
        Assert.Contains(("dataset:labels", "consumer:train"), graph.Edges);
        Assert.All(graph.Edges, e => Assert.NotNull(graph.Find(e.From)));
        Assert.All(graph.Edges, e => Assert.NotNull(graph.Find(e.To)));
        Assert.Equal("etl", graph.Find("producer:etl/features")!.DagId);
        Assert.True(graph.Height >= consumers.Max(n => n.Y) + DatasetGraph.NodeHeight);
    }

    [Fact]
    public void Compute_NoDatasets_IsEmpty()
    {
        var graph = DatasetGraph.Compute([]);

        Assert.Empty(graph.Nodes);
        Assert.Empty(graph.Edges);
    }
}
