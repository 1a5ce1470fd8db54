using System.Collections.Immutable;
using Batchyard.Dags;
using Batchyard.Dashboard.Model;

namespace Batchyard.Dashboard.Tests.Model;

public class DagLayoutTests
{
    private static TaskDefinition Task(string id, params string[] upstream) => new() { TaskId = id, Upstream = [.. upstream] };

    [Fact]
    public void Compute_FanOutFanIn_LayersByLongestPath()
    {
        // extract >> [train, evaluate] >> publish, plus a shortcut extract >> publish that must not pull publish left.
        var layout = DagLayout.Compute([Task("extract"), Task("train", "extract"), Task("evaluate", "extract"), Task("publish", "train", "evaluate", "extract")]);

        Assert.Equal(0, layout.Find("extract")!.Layer);
        Assert.Equal(1, layout.Find("train")!.Layer);
        Assert.Equal(1, layout.Find("evaluate")!.Layer);
        Assert.Equal(2, layout.Find("publish")!.Layer);
        Assert.Equal(5, layout.Edges.Length);
    }

    [Fact]
    public void Compute_EveryEdge_PointsRightwards()
    {
        var layout = DagLayout.Compute([Task("d", "c"), Task("c", "b", "a"), Task("b", "a"), Task("a"), Task("e", "a")]);

        foreach (var edge in layout.Edges)
        {
            Assert.True(layout.Find(edge.From)!.X < layout.Find(edge.To)!.X, $"{edge.From} -> {edge.To}");
        }
    }

    [Fact]
    public void Compute_TasksInOneLayer_DoNotOverlap()
    {
        var layout = DagLayout.Compute([Task("root"), Task("a", "root"), Task("b", "root"), Task("c", "root")]);

        var ys = layout.Nodes.Where(n => n.Layer == 1).Select(n => n.Y).Order().ToArray();
        Assert.Equal(3, ys.Length);
        Assert.All(ys.Zip(ys.Skip(1)), pair => Assert.True(pair.Second - pair.First >= DagLayout.NodeHeight));
        Assert.True(layout.Height >= ys[^1] + DagLayout.NodeHeight);
    }

    [Fact]
    public void Compute_CycleOrUnknownUpstream_StillDrawsEveryTask()
    {
        var layout = DagLayout.Compute([Task("a", "b"), Task("b", "a"), Task("c", "missing")]);

        Assert.Equal(["a", "b", "c"], layout.Nodes.Select(n => n.TaskId).Order().ToArray());
        Assert.DoesNotContain(layout.Edges, e => e.From == "missing");
    }

    [Fact]
    public void TaskOrder_FollowsLayers() =>
        Assert.Equal(["extract", "train", "publish"], DagLayout.Compute([Task("publish", "train"), Task("train", "extract"), Task("extract")]).TaskOrder.ToArray());

    [Fact]
    public void Compute_ALargeDag_DrawsEachSetOfSiblingsAsOneNode_AndKeepsEveryTaskInTheOrder()
    {
        // start >> [a0 … a149] >> mid >> [b0 … b2] >> end, and a lone task beside them: 157 tasks.
        var tasks = new List<TaskDefinition> { Task("start") };
        tasks.AddRange(Enumerable.Range(0, 150).Select(i => Task($"a{i}", "start")));
        tasks.Add(Task("mid", [.. Enumerable.Range(0, 150).Select(i => $"a{i}")]));
        tasks.AddRange(Enumerable.Range(0, 3).Select(i => Task($"b{i}", "mid")));
        tasks.Add(Task("end", "b0", "b1", "b2"));
        tasks.Add(Task("lone"));

        var layout = DagLayout.Compute(tasks);

        var group = layout.Find("a77")!;
        Assert.True(group.IsGroup);
        Assert.Equal("a0", group.TaskId);
        Assert.Equal(150, group.Tasks.Length);
        Assert.Same(group, layout.Find("a0"));
        // Three siblings are fewer than a group: drawn one by one.
        Assert.False(layout.Find("b1")!.IsGroup);
        Assert.Equal(["start", "lone", "a0", "mid", "b0", "b1", "b2", "end"], layout.Rows.Select(n => n.TaskId).ToArray());
        Assert.Contains(new GraphEdge("a0", "mid"), layout.Edges);
        Assert.Equal(1, layout.Edges.Count(e => e.To == "mid"));
        Assert.Equal(tasks.Count, layout.TaskOrder.Distinct().Count());
        Assert.True(layout.Height < 10 * (DagLayout.NodeHeight + DagLayout.RowGap));
    }

    [Fact]
    public void Compute_UpToTheLimit_DrawsEveryTask()
    {
        var tasks = new List<TaskDefinition> { Task("start") };
        tasks.AddRange(Enumerable.Range(0, DagLayout.CollapseAbove - 1).Select(i => Task($"a{i}", "start")));

        var layout = DagLayout.Compute(tasks);

        Assert.Equal(DagLayout.CollapseAbove, layout.Nodes.Length);
        Assert.DoesNotContain(layout.Nodes, n => n.IsGroup);
    }
}
