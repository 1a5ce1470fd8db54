using Batchyard.Dashboard.Components.Shared;
using Batchyard.Runs;
using Bunit;
using MudBlazor;
using MudBlazor.Services;

namespace Batchyard.Dashboard.Tests.Components;

/// <summary>The DAG page's charts over its last runs, drawn from the runs the page already read.</summary>
public sealed class RunChartsTests : BunitContext
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 27, 3, 0, 0, TimeSpan.Zero);

    public RunChartsTests()
    {
        Services.AddMudServices();
        JSInterop.Mode = JSRuntimeMode.Loose;
    }

    private static AttemptDetails Attempt(int startSeconds, int endSeconds, int attempt = 1) => new()
    {
        Attempt = attempt,
        State = AttemptState.Succeeded,
        StartedAt = T0.AddSeconds(startSeconds),
        EndedAt = T0.AddSeconds(endSeconds),
    };

    /// <summary>Run <paramref name="n"/> (0 the oldest): extract takes 10 s, train 20+n s (its second run retried once), the run 40+n s.</summary>
    private static RunDetails Finished(int n) => new()
    {
        DagId = "d",
        RunId = $"run-{n}",
        State = RunState.Succeeded,
        LogicalDate = T0.AddDays(n),
        StartedAt = T0,
        EndedAt = T0.AddSeconds(40 + n),
        Tasks =
        [
            new TaskInstanceDetails { TaskId = "extract", State = TaskState.Succeeded, Attempts = [Attempt(0, 10)] },
            new TaskInstanceDetails
            {
                TaskId = "train",
                State = TaskState.Succeeded,
                Attempts = n == 1 ? [Attempt(10, 15), Attempt(16, 31, attempt: 2)] : [Attempt(10, 30 + n)],
            },
        ],
    };

    [Fact]
    public void ThreeFinishedRunsAndOneRunning_ChartsThreePointsPerSeries_OldestFirst_AndNoCostYet()
    {
        var running = new RunDetails { DagId = "d", RunId = "run-3", State = RunState.Running, LogicalDate = T0.AddDays(3), StartedAt = T0 };
        // Newest first, as the history lists them.
        var runs = System.Collections.Immutable.ImmutableArray.Create(running, Finished(2), Finished(1), Finished(0));

        var panel = Render<RunChartsPanel>(p => p.Add(c => c.Runs, runs).Add(c => c.TaskOrder, ["extract", "train"]));

        var charts = panel.FindComponents<MudChart<double>>();
        Assert.Equal(2, charts.Count);
        var runSeries = Assert.Single(charts[0].Instance.ChartSeries);
        Assert.Equal<double>([40, 41, 42], runSeries.Data.Values);
        Assert.Equal<string>(["extract", "train"], charts[1].Instance.ChartSeries.Select(s => s.Name));
        Assert.Equal<double>([10, 10, 10], charts[1].Instance.ChartSeries[0].Data.Values);
        Assert.Equal<double>([20, 21, 22], charts[1].Instance.ChartSeries[1].Data.Values);
        Assert.Equal<string>(["11-27 03:00", "11-28 03:00", "11-29 03:00"], charts[0].Instance.ChartLabels);
        Assert.Equal("3", panel.Find("[data-testid=chart-run-duration]").GetAttribute("data-points"));
        Assert.Equal("2", panel.Find("[data-testid=chart-task-durations]").GetAttribute("data-series"));
        Assert.Empty(panel.FindAll("[data-testid=chart-cost]"));
        Assert.NotEmpty(panel.FindAll("[data-testid=chart-run-duration] svg"));
    }

    [Fact]
    public void RunsWithACost_ChartTheirCostPerRun()
    {
        var runs = System.Collections.Immutable.ImmutableArray.Create(
            Finished(2) with { CostUsd = 0.30m }, Finished(1) with { CostUsd = 0.25m }, Finished(0));

        var panel = Render<RunChartsPanel>(p => p.Add(c => c.Runs, runs).Add(c => c.TaskOrder, ["extract", "train"]));

        Assert.Equal("3", panel.Find("[data-testid=chart-cost]").GetAttribute("data-points"));
        var cost = panel.FindComponents<MudChart<double>>()[2];
        // Oldest first; the run without a priced attempt charts as nothing.
        Assert.Equal<double>([0, 0.25, 0.30], Assert.Single(cost.Instance.ChartSeries).Data.Values);
    }

    [Fact]
    public void NoFinishedRun_SaysSoInsteadOfAnEmptyChart()
    {
        var running = new RunDetails { DagId = "d", RunId = "r", State = RunState.Running, StartedAt = T0 };

        var panel = Render<RunChartsPanel>(p => p.Add(c => c.Runs, [running]).Add(c => c.TaskOrder, ["extract"]));

        Assert.Empty(panel.FindComponents<MudChart<double>>());
        Assert.NotNull(panel.Find("[data-testid=run-charts-empty]"));
    }

    [Fact]
    public void ADagOfManyTasks_ChartsItsLongestTasksOnly_AndSaysHowManyThereWere()
    {
        // 40 tasks; task i takes i seconds: the 12 longest are t28 … t39.
        var run = new RunDetails
        {
            DagId = "d",
            RunId = "wide",
            State = RunState.Succeeded,
            LogicalDate = T0,
            StartedAt = T0,
            EndedAt = T0.AddSeconds(60),
            Tasks = [.. Enumerable.Range(0, 40).Select(i => new TaskInstanceDetails { TaskId = $"t{i}", State = TaskState.Succeeded, Attempts = [Attempt(0, i + 1)] })],
        };

        var panel = Render<RunChartsPanel>(p => p.Add(c => c.Runs, [run]).Add(c => c.TaskOrder, [.. Enumerable.Range(0, 40).Select(i => $"t{i}")]));

        var tasks = panel.FindComponents<MudChart<double>>()[1].Instance.ChartSeries;
        Assert.Equal(Enumerable.Range(28, 12).Select(i => $"t{i}"), tasks.Select(s => s.Name));
        Assert.Equal("40", panel.Find("[data-testid=chart-task-durations]").GetAttribute("data-tasks"));
        Assert.Contains("the 12 longest of 40 tasks", panel.Find("[data-testid=chart-task-durations]").TextContent, StringComparison.Ordinal);
    }
}
