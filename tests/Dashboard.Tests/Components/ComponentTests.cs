using System.Collections.Immutable;
using Batchyard.Backends;
using Batchyard.Dags;
using Batchyard.Dashboard.Components.Shared;
using Batchyard.Dashboard.Model;
using Batchyard.Runs;
using Bunit;
using MudBlazor.Services;

namespace Batchyard.Dashboard.Tests.Components;

public sealed class ComponentTests : BunitContext
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 27, 3, 0, 0, TimeSpan.Zero);

    public ComponentTests()
    {
        Services.AddMudServices();
        JSInterop.Mode = JSRuntimeMode.Loose;
    }

    private static DagLayout LayoutOf(params string[] taskIds) => DagLayout.Compute([.. taskIds.Select(id => new TaskDefinition { TaskId = id })]);

    /// <summary>start >> [w0 … w(width-1)] >> done: a fan-out wide enough to be drawn as a group.</summary>
    private static DagLayout Fan(int width) => DagLayout.Compute(
    [
        new TaskDefinition { TaskId = "start" },
        .. Enumerable.Range(0, width).Select(i => new TaskDefinition { TaskId = $"w{i}", Upstream = ["start"] }),
        new TaskDefinition { TaskId = "done", Upstream = [.. Enumerable.Range(0, width).Select(i => $"w{i}")] },
    ]);

    private static RunDetails FanRun(int width, int failed) => new()
    {
        DagId = "fan",
        RunId = "r",
        State = RunState.Running,
        LogicalDate = T0,
        StartedAt = T0,
        Tasks =
        [
            new TaskInstanceDetails { TaskId = "start", State = TaskState.Succeeded },
            .. Enumerable.Range(0, width).Select(i => new TaskInstanceDetails { TaskId = $"w{i}", State = i < failed ? TaskState.Failed : i % 2 == 0 ? TaskState.Succeeded : TaskState.Running }),
            new TaskInstanceDetails { TaskId = "done", State = TaskState.Pending },
        ],
    };

    [Fact]
    public void DagGraph_AWideFanOut_IsOneGroupNodeWithItsTasksCountedByState_AndAFailureShows()
    {
        var layout = Fan(2000);
        var run = FanRun(2000, failed: 1);
        var graph = Render<DagGraph>(p => p
            .Add(c => c.Layout, layout)
            .Add(c => c.States, run.Tasks.ToDictionary(t => t.TaskId, t => t.State)));

        Assert.Equal(3, graph.FindAll("g.by-node").Count);
        var group = graph.Find("g[data-task=w0]");
        Assert.Equal("2000", group.GetAttribute("data-group"));
        // One failed task among 2,000 colours the group.
        Assert.Equal("failed", group.GetAttribute("data-state"));
        Assert.Equal("running:1000 succeeded:999 failed:1", group.GetAttribute("data-counts"));
        Assert.Contains("2000 tasks, 1 failed", group.TextContent, StringComparison.Ordinal);
        Assert.Equal(new string?[] { "start->w0", "w0->done" }, graph.FindAll("path.by-edge").Select(e => e.GetAttribute("data-edge")).ToArray());
    }

    [Fact]
    public void RunGrid_AWideFanOut_IsOneRowWhoseSquareCountsItsTasks()
    {
        var grid = Render<RunGrid>(p => p
            .Add(c => c.Runs, [FanRun(2000, failed: 0)])
            .Add(c => c.Layout, Fan(2000))
            .Add(c => c.Now, T0.AddHours(1)));

        Assert.Equal(new string?[] { "start", "w0", "done" }, grid.FindAll("tbody tr").Select(r => r.GetAttribute("data-row")).ToArray());
        var square = grid.Find("tr[data-row=w0] a.by-grid-square");
        // Nothing failed: the largest unfinished state stands for the group.
        Assert.Equal("running", square.GetAttribute("data-state"));
        Assert.Equal("running:1000 succeeded:1000", square.GetAttribute("data-counts"));
        Assert.Contains("w0 … w1999 (2000)", grid.Find("tr[data-row=w0] td.by-grid-label").TextContent, StringComparison.Ordinal);
    }

    private static DagLayout Pipeline() => DagLayout.Compute(
    [
        new TaskDefinition { TaskId = "extract" },
        new TaskDefinition { TaskId = "train", Upstream = ["extract"] },
        new TaskDefinition { TaskId = "publish", Upstream = ["train"] },
    ]);

    [Fact]
    public void DagGraph_WithRunStates_ColoursEachNodeByItsTaskState()
    {
        var graph = Render<DagGraph>(p => p
            .Add(c => c.Layout, Pipeline())
            .Add(c => c.States, new Dictionary<string, TaskState> { ["extract"] = TaskState.Succeeded, ["train"] = TaskState.Failed, ["publish"] = TaskState.UpstreamFailed }));

        Assert.Equal(StateStyles.Succeeded, graph.Find("g[data-task=extract] rect").GetAttribute("fill"));
        Assert.Equal(StateStyles.Failed, graph.Find("g[data-task=train] rect").GetAttribute("fill"));
        Assert.Equal("upstream_failed", graph.Find("g[data-task=publish]").GetAttribute("data-state"));
        Assert.Equal(2, graph.FindAll("path.by-edge").Count);
        Assert.NotNull(graph.Find("path[data-edge='extract->train']"));
    }

    [Fact]
    public void DagGraph_ClickOnANode_ReportsItsTask()
    {
        string? clicked = null;
        var graph = Render<DagGraph>(p => p.Add(c => c.Layout, Pipeline()).Add(c => c.OnNodeClick, (string id) => clicked = id));

        graph.Find("g[data-task=train]").Click();

        Assert.Equal("train", clicked);
    }

    [Fact]
    public void DagGraph_MappedTask_IsOneNodeWithItsInstancesCountedByState()
    {
        var run = new RunDetails
        {
            DagId = "d",
            RunId = "r",
            Tasks =
            [
                new TaskInstanceDetails { TaskId = "extract", State = TaskState.Succeeded },
                new TaskInstanceDetails { TaskId = "train", State = TaskState.Running, MapCount = 5 },
                .. Enumerable.Range(0, 5).Select(i => new TaskInstanceDetails
                {
                    TaskId = "train",
                    MapIndex = i,
                    State = i < 3 ? TaskState.Succeeded : i == 3 ? TaskState.Failed : TaskState.Running,
                }),
                new TaskInstanceDetails { TaskId = "publish", State = TaskState.Pending },
            ],
        };

        var graph = Render<DagGraph>(p => p
            .Add(c => c.Layout, Pipeline())
            .Add(c => c.States, new Dictionary<string, TaskState> { ["extract"] = TaskState.Succeeded, ["train"] = TaskState.Running, ["publish"] = TaskState.Pending })
            .Add(c => c.Instances, MapCounts.Of(run)));

        var train = graph.Find("g[data-task=train]");
        Assert.Equal("running", train.GetAttribute("data-state"));
        Assert.Equal("running:1 succeeded:3 failed:1", train.GetAttribute("data-counts"));
        Assert.Equal(["running:1", "succeeded:3", "failed:1"], train.QuerySelectorAll("rect[data-segment]").Select(r => $"{r.GetAttribute("data-segment")}:{r.GetAttribute("data-count")}"));
        // The unfinished instances are the news: "5 ×, 1 running".
        Assert.Contains("5 ×, 1 running", train.TextContent, StringComparison.Ordinal);
        Assert.Contains("5 instances: 1 running · 3 succeeded · 1 failed", train.QuerySelector("title")!.TextContent, StringComparison.Ordinal);
        // Segment widths are proportional: 3 of 5 succeeded is three times the one failed.
        double Width(string state) => double.Parse(train.QuerySelector($"rect[data-segment={state}]")!.GetAttribute("width")!, System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(3 * Width("failed"), Width("succeeded"), 0.5);
        Assert.Null(graph.Find("g[data-task=extract]").GetAttribute("data-counts"));
        Assert.Empty(graph.FindAll("g[data-task=publish] [data-testid=instance-bar]"));
    }

    [Fact]
    public void DagGraph_MappedTaskOverAnEmptyList_SaysItHasNoInstances()
    {
        var run = new RunDetails
        {
            DagId = "d",
            RunId = "r",
            Tasks = [new TaskInstanceDetails { TaskId = "train", State = TaskState.Skipped, MapCount = 0 }],
        };

        var graph = Render<DagGraph>(p => p
            .Add(c => c.Layout, Pipeline())
            .Add(c => c.States, new Dictionary<string, TaskState> { ["train"] = TaskState.Skipped })
            .Add(c => c.Instances, MapCounts.Of(run)));

        Assert.Contains("skipped, no instances", graph.Find("g[data-task=train]").TextContent, StringComparison.Ordinal);
        Assert.Empty(graph.FindAll("g[data-task=train] rect[data-segment]"));
    }

    [Fact]
    public void RunGrid_NoRuns_ShowsAnEmptyState()
    {
        var grid = Render<RunGrid>(p => p.Add(c => c.Runs, ImmutableArray<RunDetails>.Empty).Add(c => c.Layout, LayoutOf("a")));

        Assert.Contains("No runs yet", grid.Find("[data-testid=empty-state]").TextContent, StringComparison.Ordinal);
    }

    [Fact]
    public void RunGrid_Runs_DrawsOneColumnPerRunOldestFirstAndOneCellPerTaskInstance()
    {
        RunDetails Run(string id, int hour, TaskState state) => new()
        {
            DagId = "d",
            RunId = id,
            State = state == TaskState.Succeeded ? RunState.Succeeded : RunState.Failed,
            LogicalDate = T0.AddHours(hour),
            StartedAt = T0.AddHours(hour),
            EndedAt = T0.AddHours(hour).AddMinutes(1),
            Tasks = [new TaskInstanceDetails { TaskId = "a", State = state }, new TaskInstanceDetails { TaskId = "b", State = TaskState.Pending }],
        };

        var grid = Render<RunGrid>(p => p
            .Add(c => c.Runs, [Run("new", 2, TaskState.Failed), Run("old", 1, TaskState.Succeeded)])
            .Add(c => c.Layout, LayoutOf("a", "b"))
            .Add(c => c.Now, T0.AddHours(3)));

        var firstRow = grid.FindAll("tbody tr")[0].QuerySelectorAll("a.by-grid-square").Select(a => a.GetAttribute("data-state")).ToArray();
        Assert.Equal(new string?[] { "succeeded", "failed" }, firstRow);
        Assert.Equal(2, grid.FindAll("tbody tr")[1].QuerySelectorAll("a.by-grid-pending").Length);
        Assert.Contains("runs/old?task=a", grid.FindAll("tbody tr")[0].QuerySelector("a")!.GetAttribute("href"), StringComparison.Ordinal);
    }

    [Fact]
    public void Gantt_AttemptWithQueueWait_DrawsHatchedWaitThenTheRunningBar()
    {
        var run = new RunDetails
        {
            DagId = "d",
            RunId = "r",
            State = RunState.Running,
            QueuedAt = T0,
            StartedAt = T0,
            Tasks = [new TaskInstanceDetails { TaskId = "t", State = TaskState.Running, Attempts = [new AttemptDetails { Attempt = 1, State = AttemptState.Running, QueuedAt = T0, StartedAt = T0.AddSeconds(5) }] }],
        };

        var gantt = Render<Gantt>(p => p.Add(c => c.Model, GanttModel.Build(run, T0.AddSeconds(10))));

        var kinds = gantt.FindAll("[data-task=t] .by-gantt-seg").Select(s => s.GetAttribute("data-kind")).ToArray();
        Assert.Equal(new string?[] { "QueueWait", "Running" }, kinds);
        Assert.Contains("left:50%", gantt.Find("[data-task=t] [data-kind=Running]").GetAttribute("style"), StringComparison.Ordinal);
    }

    [Fact]
    public void LateBadge_ShowsLateOnlyForALateRunOrTask()
    {
        var late = Render<LateBadge>(p => p.Add(c => c.Late, true).Add(c => c.Small, true));
        var badge = late.Find("[data-testid=late-badge]");
        Assert.Equal("late", badge.TextContent);
        Assert.Contains("by-late-small", badge.ClassName, StringComparison.Ordinal);

        var onTime = Render<LateBadge>(p => p.Add(c => c.Late, false));
        Assert.Empty(onTime.FindAll("[data-testid=late-badge]"));
    }

    [Fact]
    public void RunGrid_MarksTheLateRunsColumnOnly()
    {
        RunDetails RunOf(string id, bool late, int day) => new()
        {
            DagId = "d",
            RunId = id,
            State = RunState.Succeeded,
            LogicalDate = T0.AddDays(day),
            StartedAt = T0.AddDays(day),
            EndedAt = T0.AddDays(day).AddMinutes(5),
            Late = late,
            Tasks = [new TaskInstanceDetails { TaskId = "t", State = TaskState.Succeeded, Late = late }],
        };
        var grid = Render<RunGrid>(p => p
            .Add(c => c.Runs, [RunOf("r2", false, 2), RunOf("r1", true, 1)])
            .Add(c => c.Layout, LayoutOf("t"))
            .Add(c => c.Now, T0.AddDays(3)));

        Assert.Single(grid.FindAll("th[data-run=r1] [data-testid=late-badge]"));
        Assert.Empty(grid.FindAll("th[data-run=r2] [data-testid=late-badge]"));
        Assert.Contains("· late", grid.Find("th[data-run=r1] a").GetAttribute("title"), StringComparison.Ordinal);
    }

    [Fact]
    public void TaskStateChip_UsesTheSharedStateColour()
    {
        var chip = Render<TaskStateChip>(p => p.Add(c => c.State, TaskState.UpForRetry));

        var span = chip.Find("span.by-chip");
        Assert.Equal("up_for_retry", span.TextContent);
        Assert.Contains(StateStyles.UpForRetry, span.GetAttribute("style"), StringComparison.Ordinal);
    }

    [Fact]
    public void BackendHealthCard_ABackendTheDashboardHasNeverHeardOf_ShowsItsStatusFactsAndLinks()
    {
        var health = new BackendHealth
        {
            Backend = "kubernetes",
            Status = BackendStatus.Degraded,
            Message = "2 of 3 nodes ready",
            Facts = [new BackendFact { Name = "namespace", Value = "batch" }],
            Links = [new BackendLink { Title = "Cluster console", Url = new Uri("https://console.example/k8s") }],
        };

        var card = Render<BackendHealthCard>(p => p.Add(c => c.Health, health));

        var root = card.Find("[data-backend=kubernetes]");
        Assert.Equal("degraded", root.GetAttribute("data-status"));
        Assert.Contains("2 of 3 nodes ready", root.TextContent, StringComparison.Ordinal);
        Assert.Contains("namespace batch", card.Find(".by-facts").TextContent, StringComparison.Ordinal);
        var link = card.Find("a");
        Assert.Equal("https://console.example/k8s", link.GetAttribute("href"));
        Assert.Equal("Cluster console", link.TextContent);
    }
}
