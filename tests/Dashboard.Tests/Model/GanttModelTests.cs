using Batchyard.Dashboard.Model;
using Batchyard.Runs;

namespace Batchyard.Dashboard.Tests.Model;

public class GanttModelTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 27, 3, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Build_MappedTask_IsOneRowFromTheFirstInstanceStartToTheLastEnd()
    {
        AttemptDetails Ran(int from, int to) => new() { Attempt = 1, State = AttemptState.Succeeded, QueuedAt = T0.AddSeconds(from), StartedAt = T0.AddSeconds(from), EndedAt = T0.AddSeconds(to) };
        var run = new RunDetails
        {
            DagId = "d",
            RunId = "r",
            State = RunState.Succeeded,
            QueuedAt = T0,
            StartedAt = T0,
            EndedAt = T0.AddSeconds(100),
            Tasks =
            [
                new TaskInstanceDetails { TaskId = "list", State = TaskState.Succeeded, Attempts = [Ran(0, 20)] },
                new TaskInstanceDetails { TaskId = "score", State = TaskState.Succeeded, MapCount = 3 },
                new TaskInstanceDetails { TaskId = "score", MapIndex = 0, State = TaskState.Succeeded, Attempts = [Ran(20, 50)] },
                new TaskInstanceDetails { TaskId = "score", MapIndex = 1, State = TaskState.Succeeded, Attempts = [Ran(30, 90)] },
                new TaskInstanceDetails { TaskId = "score", MapIndex = 2, State = TaskState.Succeeded, Attempts = [Ran(25, 40)] },
            ],
        };

        var model = GanttModel.Build(run, T0.AddSeconds(500));

        Assert.Equal(["list", "score"], model.Rows.Select(r => r.TaskId));
        var bar = model.Rows[1].Segments.Single();
        Assert.Equal(0.2, bar.Left, 3);
        Assert.Equal(0.7, bar.Width, 3);
        Assert.Contains("3 instances, 3 done", bar.Label);
    }

    [Fact]
    public void Build_RetriedTask_ShowsQueueWaitsRunsAndTheRetryGap()
    {
        var run = new RunDetails
        {
            DagId = "d",
            RunId = "r",
            State = RunState.Succeeded,
            QueuedAt = T0,
            StartedAt = T0,
            EndedAt = T0.AddSeconds(100),
            Tasks =
            [
                new TaskInstanceDetails
                {
                    TaskId = "fetch",
                    State = TaskState.Succeeded,
                    Attempts =
                    [
                        new AttemptDetails { Attempt = 1, State = AttemptState.Failed, QueuedAt = T0, StartedAt = T0.AddSeconds(10), EndedAt = T0.AddSeconds(20) },
                        new AttemptDetails { Attempt = 2, State = AttemptState.Succeeded, QueuedAt = T0.AddSeconds(50), StartedAt = T0.AddSeconds(50), EndedAt = T0.AddSeconds(100) },
                    ],
                },
            ],
        };

        var model = GanttModel.Build(run, T0.AddSeconds(500));

        var segments = model.Rows.Single().Segments;
        Assert.Equal([SegmentKind.QueueWait, SegmentKind.Running, SegmentKind.RetryGap, SegmentKind.Running], segments.Select(s => s.Kind).ToArray());
        Assert.Equal(0.1, segments[0].Width, 3);
        Assert.Equal(StateStyles.Failed, segments[1].Color);
        Assert.Equal(0.2, segments[2].Left, 3);
        Assert.Equal(0.3, segments[2].Width, 3);
        Assert.Equal(StateStyles.Succeeded, segments[3].Color);
        Assert.Equal(1.0, segments[3].Left + segments[3].Width, 3);
    }

    [Fact]
    public void Build_RunningAttempt_ExtendsToNow()
    {
        var run = new RunDetails
        {
            DagId = "d",
            RunId = "r",
            State = RunState.Running,
            QueuedAt = T0,
            StartedAt = T0,
            Tasks = [new TaskInstanceDetails { TaskId = "t", State = TaskState.Running, Attempts = [new AttemptDetails { Attempt = 1, State = AttemptState.Running, QueuedAt = T0, StartedAt = T0 }] }],
        };

        var model = GanttModel.Build(run, T0.AddSeconds(30));

        Assert.Equal(T0.AddSeconds(30), model.End);
        var bar = Assert.Single(model.Rows.Single().Segments);
        Assert.Equal(SegmentKind.Running, bar.Kind);
        Assert.Equal(1.0, bar.Width, 3);
    }
}
