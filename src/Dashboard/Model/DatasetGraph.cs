using System.Collections.Immutable;
using Batchyard.Datasets;

namespace Batchyard.Dashboard.Model;

/// <summary>What a box of the datasets drawing stands for.</summary>
public enum DatasetNodeKind
{
    /// <summary>A producing task, <c>dag.task</c>.</summary>
    Producer,
    Dataset,
    /// <summary>A DAG that runs on the dataset's updates.</summary>
    Consumer,
}

/// <summary>A box: its kind, its key (<c>producer:dag/task</c>, <c>dataset:name</c>, <c>consumer:dag</c>; edges join keys), its label, where it is drawn.</summary>
public sealed record DatasetNode(DatasetNodeKind Kind, string Key, string Label, string? DagId, double X, double Y);

/// <summary>
/// Producers → datasets → consumers in three columns, left to right. Rows within a column follow the datasets'
/// order (by name), so a producer sits near the first dataset it makes and a consumer near the first it reads.
/// </summary>
public sealed record DatasetGraph(ImmutableArray<DatasetNode> Nodes, ImmutableArray<(string From, string To)> Edges, double Width, double Height)
{
    public const double NodeWidth = 190;
    public const double NodeHeight = 36;
    public const double ColumnGap = 90;
    public const double RowGap = 14;
    public const double Margin = 16;

    public DatasetNode? Find(string key) => Nodes.FirstOrDefault(n => n.Key == key);

    public static DatasetGraph Compute(IEnumerable<DatasetInfo> datasets)
    {
        ArgumentNullException.ThrowIfNull(datasets);
        var ordered = datasets.OrderBy(d => d.Name, StringComparer.Ordinal).ToList();
        var producers = new List<DatasetProducer>();
        var consumers = new List<string>();
        var edges = new List<(string, string)>();
        foreach (var dataset in ordered)
        {
            foreach (var producer in dataset.Producers)
            {
                if (!producers.Contains(producer))
                {
                    producers.Add(producer);
                }
                edges.Add((ProducerKey(producer), DatasetKey(dataset.Name)));
            }
            foreach (var consumer in dataset.Consumers)
            {
                if (!consumers.Contains(consumer, StringComparer.Ordinal))
                {
                    consumers.Add(consumer);
                }
                edges.Add((DatasetKey(dataset.Name), ConsumerKey(consumer)));
            }
        }

        var nodes = ImmutableArray.CreateBuilder<DatasetNode>();
        nodes.AddRange(producers.Select((p, row) => Node(DatasetNodeKind.Producer, ProducerKey(p), $"{p.DagId}.{p.TaskId}", p.DagId, 0, row)));
        nodes.AddRange(ordered.Select((d, row) => Node(DatasetNodeKind.Dataset, DatasetKey(d.Name), d.Name, null, 1, row)));
        nodes.AddRange(consumers.Select((c, row) => Node(DatasetNodeKind.Consumer, ConsumerKey(c), c, c, 2, row)));
        var rows = Math.Max(1, Math.Max(ordered.Count, Math.Max(producers.Count, consumers.Count)));
        return new DatasetGraph(
            nodes.ToImmutable(),
            [.. edges],
            (2 * Margin) + (3 * NodeWidth) + (2 * ColumnGap),
            (2 * Margin) + (rows * NodeHeight) + ((rows - 1) * RowGap));
    }

    public static string ProducerKey(DatasetProducer producer)
    {
        ArgumentNullException.ThrowIfNull(producer);
        return $"producer:{producer.DagId}/{producer.TaskId}";
    }

    public static string DatasetKey(string name) => "dataset:" + name;

    public static string ConsumerKey(string dagId) => "consumer:" + dagId;

    private static DatasetNode Node(DatasetNodeKind kind, string key, string label, string? dagId, int column, int row) =>
        new(kind, key, label, dagId, Margin + (column * (NodeWidth + ColumnGap)), Margin + (row * (NodeHeight + RowGap)));
}
