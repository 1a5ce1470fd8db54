using Batchyard.Dags;
using Batchyard.Grains;
using Batchyard.History;
using Batchyard.Runs;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Core.Internal;
using static Batchyard.Tests.TestDags;

namespace Batchyard.Tests.Runs;

/// <summary><c>deadline:</c> on DAGs and tasks, on the fake clock: late is marked, journaled and notified once; nothing stops.</summary>
public sealed class DeadlineTests(ClusterFixture fx) : IClassFixture<ClusterFixture>
{
    private static readonly string[] Pager = ["pager"];

    private static DagDefinition WithDeadline(DagDefinition dag, TimeSpan within, DeadlineAnchor after = DeadlineAnchor.Queued, bool notify = true) =>
        dag with
        {
            Deadline = new DeadlineSettings { Within = within, After = after },
            Notify = notify ? new NotifySettings { OnLate = [.. Pager] } : new NotifySettings(),
        };

    private async Task<RunDetails> TriggerAsync(DagDefinition dag)
    {
        await fx.Dag(dag.DagId).ApplyAsync(dag);
        return await fx.Dag(dag.DagId).TriggerAsync(new());
    }

    private async Task<List<RunEvent>> LateEventsAsync(string dagId, string runId) =>
        [.. (await fx.SiloServices.GetRequiredService<IRunJournal>().ReadAsync(dagId, runId)).Where(e => e.Kind == RunEventKinds.Late)];

    private async Task<RunDetails> RunningAsync(string dagId, string runId) =>
        await fx.WaitForRunAsync(dagId, runId, r => r.Tasks.All(t => t.State == TaskState.Running));

    /// <summary>Lets timers and effects that the clock made due run, then reads the run.</summary>
    private async Task<RunDetails> SettledAsync(string dagId, string runId)
    {
        await System.Threading.Tasks.Task.Delay(300);
        return (await fx.Run(dagId, runId).GetAsync())!;
    }

    private static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < until, "timed out waiting until " + what);
            await System.Threading.Tasks.Task.Delay(10);
        }
    }

    [Fact]
    public async Task RunDeadline_PassesWhileRunning_MarksTheRunLate_JournalsIt_NotifiesOnce_AndStopsNothing()
    {
        var run = await TriggerAsync(WithDeadline(Dag("dl-run", Task("slow", "hold")), TimeSpan.FromMinutes(10)));
        var running = await RunningAsync("dl-run", run.RunId);
        Assert.False(running.Late);

        fx.Time.Advance(TimeSpan.FromMinutes(9));
        Assert.False((await SettledAsync("dl-run", run.RunId)).Late);

        fx.Time.Advance(TimeSpan.FromMinutes(1));
        var late = await fx.WaitForRunAsync("dl-run", run.RunId, r => r.Late);
        Assert.Equal(RunState.Running, late.State);
        Assert.Equal(TaskState.Running, late.Tasks.Single().State);
        Assert.False(late.Tasks.Single().Late);
        var e = Assert.Single(await LateEventsAsync("dl-run", run.RunId));
        Assert.Null(e.TaskId);
        Assert.Equal(run.QueuedAt + TimeSpan.FromMinutes(10), RunFactJson.Read<LateFact>(e.Payload).Deadline);
        await WaitUntilAsync(() => NotificationRecorder.For("dl-run").Count > 0, "on_late was handed over");
        var notice = Assert.Single(NotificationRecorder.For("dl-run"));
        Assert.Equal($"dl-run/{run.RunId}/on_late", notice.EventId);
        Assert.Equal(NotifyEvents.OnLate, notice.Event);
        Assert.Equal(Pager, notice.Notifiers);
        Assert.Null(notice.TaskId);

        // Later wake-ups and more time hand nothing over again; the run still finishes normally.
        fx.Time.Advance(TimeSpan.FromHours(1));
        await fx.Run("dl-run", run.RunId).ResumeAsync();
        fx.Backend.Release(late.Tasks.Single().Attempts.Single().JobId!, succeed: true);
        var done = await fx.WaitForRunEndAsync("dl-run", run.RunId);
        Assert.Equal(RunState.Succeeded, done.State);
        Assert.True(done.Late);
        Assert.Single(NotificationRecorder.For("dl-run"));
        Assert.Single(await LateEventsAsync("dl-run", run.RunId));
        Assert.Contains(await fx.SiloServices.GetRequiredService<IRunHistoryStore>().ListRunsAsync("dl-run", null, null, 10), r => r.RunId == run.RunId && r.Late);
        // The DAG grain's recent runs (the DAG list's) carry it too.
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (!(await fx.Dag("dl-run").GetAsync())!.RecentRuns.Single(r => r.RunId == run.RunId).Late)
        {
            Assert.True(DateTime.UtcNow < until, "the DAG grain never heard that the run is late");
            await System.Threading.Tasks.Task.Delay(10);
        }
    }

    [Fact]
    public async Task RunFinishedInTime_IsNeverLate_EvenAfterItsDeadlinePasses()
    {
        var run = await TriggerAsync(WithDeadline(Dag("dl-in-time", Task("quick", "hold")), TimeSpan.FromMinutes(10)));
        var running = await RunningAsync("dl-in-time", run.RunId);
        fx.Time.Advance(TimeSpan.FromMinutes(5));
        fx.Backend.Release(running.Tasks.Single().Attempts.Single().JobId!, succeed: true);
        await fx.WaitForRunEndAsync("dl-in-time", run.RunId);

        fx.Time.Advance(TimeSpan.FromMinutes(30));
        var after = await SettledAsync("dl-in-time", run.RunId);
        Assert.False(after.Late);
        Assert.Empty(await LateEventsAsync("dl-in-time", run.RunId));
        Assert.Empty(NotificationRecorder.For("dl-in-time"));
        Assert.DoesNotContain(await fx.SiloServices.GetRequiredService<IRunHistoryStore>().ListRunsAsync("dl-in-time", null, null, 10), r => r.Late);
    }

    [Fact]
    public async Task TaskDeadline_IsMeasuredFromTheTasksFirstStart_AndMarksOnlyThatTask()
    {
        // "second" starts 20 minutes into the run: its 15-minute deadline falls 35 minutes in.
        var dag = Dag("dl-task", Task("first", "hold"), Task("second", "hold", "first") with { Deadline = TimeSpan.FromMinutes(15) })
            with { Notify = new NotifySettings { OnLate = [.. Pager] } };
        var run = await TriggerAsync(dag);
        var first = await fx.WaitForRunAsync("dl-task", run.RunId, r => r.Tasks[0].State == TaskState.Running);
        fx.Time.Advance(TimeSpan.FromMinutes(20));
        fx.Backend.Release(first.Tasks[0].Attempts.Single().JobId!, succeed: true);
        var second = await fx.WaitForRunAsync("dl-task", run.RunId, r => r.Tasks[1].State == TaskState.Running);
        var started = second.Tasks[1].Attempts.Single().StartedAt!.Value;

        fx.Time.Advance(TimeSpan.FromMinutes(14));
        Assert.False((await SettledAsync("dl-task", run.RunId)).Tasks[1].Late);

        fx.Time.Advance(TimeSpan.FromMinutes(1));
        var late = await fx.WaitForRunAsync("dl-task", run.RunId, r => r.Tasks[1].Late);
        Assert.False(late.Late);
        Assert.False(late.Tasks[0].Late);
        Assert.Equal(TaskState.Running, late.Tasks[1].State);
        var e = Assert.Single(await LateEventsAsync("dl-task", run.RunId));
        Assert.Equal("second", e.TaskId);
        Assert.Equal(started + TimeSpan.FromMinutes(15), RunFactJson.Read<LateFact>(e.Payload).Deadline);
        await WaitUntilAsync(() => NotificationRecorder.For("dl-task").Count > 0, "on_late was handed over");
        var notice = Assert.Single(NotificationRecorder.For("dl-task"));
        Assert.Equal($"dl-task/{run.RunId}/second/on_late", notice.EventId);
        Assert.Equal("second", notice.TaskId);
        await fx.Run("dl-task", run.RunId).CancelAsync();
    }

    [Fact]
    public async Task TaskFinishedInTime_IsNeverLate()
    {
        var dag = Dag("dl-task-ok", Task("t", "hold") with { Deadline = TimeSpan.FromMinutes(15) });
        var run = await TriggerAsync(dag);
        var running = await RunningAsync("dl-task-ok", run.RunId);
        fx.Time.Advance(TimeSpan.FromMinutes(10));
        fx.Backend.Release(running.Tasks[0].Attempts.Single().JobId!, succeed: true);
        await fx.WaitForRunEndAsync("dl-task-ok", run.RunId);
        fx.Time.Advance(TimeSpan.FromMinutes(30));
        var after = await SettledAsync("dl-task-ok", run.RunId);
        Assert.False(after.Tasks[0].Late);
        Assert.Empty(await LateEventsAsync("dl-task-ok", run.RunId));
    }

    [Fact]
    public async Task AfterLogicalDate_MeasuresAScheduledRunFromItsSlot_ButAManualRunFromWhenItWasQueued()
    {
        var dag = WithDeadline(Dag("dl-anchor", Task("t", "hold")), TimeSpan.FromHours(1), DeadlineAnchor.LogicalDate, notify: false);
        await fx.Dag("dl-anchor").ApplyAsync(dag);
        var now = fx.Time.GetUtcNow();
        // Both stand for a slot 45 minutes ago: the scheduled run is due 15 minutes from now, the manual one in an hour.
        var slot = now - TimeSpan.FromMinutes(45);
        await fx.Run("dl-anchor", "scheduled-1").CreateAsync(new RunStart { Dag = dag, RunId = "scheduled-1", LogicalDate = slot, RunType = "scheduled" });
        await fx.Run("dl-anchor", "manual-1").CreateAsync(new RunStart { Dag = dag, RunId = "manual-1", LogicalDate = slot, RunType = "manual" });
        await RunningAsync("dl-anchor", "scheduled-1");
        await RunningAsync("dl-anchor", "manual-1");

        fx.Time.Advance(TimeSpan.FromMinutes(15));
        await fx.WaitForRunAsync("dl-anchor", "scheduled-1", r => r.Late);
        Assert.False((await SettledAsync("dl-anchor", "manual-1")).Late);
        Assert.Equal(slot + TimeSpan.FromHours(1), RunFactJson.Read<LateFact>(Assert.Single(await LateEventsAsync("dl-anchor", "scheduled-1")).Payload).Deadline);

        fx.Time.Advance(TimeSpan.FromMinutes(45));
        await fx.WaitForRunAsync("dl-anchor", "manual-1", r => r.Late);
        var manual = RunFactJson.Read<LateFact>(Assert.Single(await LateEventsAsync("dl-anchor", "manual-1")).Payload);
        Assert.Equal(now + TimeSpan.FromHours(1), manual.Deadline);
        Assert.Equal("queued", manual.MeasuredFrom);
        await fx.Run("dl-anchor", "scheduled-1").CancelAsync();
        await fx.Run("dl-anchor", "manual-1").CancelAsync();
    }

    [Fact]
    public async Task AfterQueued_MeasuresEvenAScheduledRunFromWhenItWasQueued()
    {
        var dag = WithDeadline(Dag("dl-queued", Task("t", "hold")), TimeSpan.FromHours(1), DeadlineAnchor.Queued, notify: false);
        await fx.Dag("dl-queued").ApplyAsync(dag);
        var now = fx.Time.GetUtcNow();
        await fx.Run("dl-queued", "scheduled-1").CreateAsync(new RunStart { Dag = dag, RunId = "scheduled-1", LogicalDate = now - TimeSpan.FromMinutes(45), RunType = "scheduled" });
        await RunningAsync("dl-queued", "scheduled-1");

        fx.Time.Advance(TimeSpan.FromMinutes(59));
        Assert.False((await SettledAsync("dl-queued", "scheduled-1")).Late);
        fx.Time.Advance(TimeSpan.FromMinutes(1));
        await fx.WaitForRunAsync("dl-queued", "scheduled-1", r => r.Late);
        await fx.Run("dl-queued", "scheduled-1").CancelAsync();
    }

    [Fact]
    public async Task DeadlinePassingWhileTheRunGrainIsGone_FiresOnceWhenItIsBack()
    {
        var run = await TriggerAsync(WithDeadline(Dag("dl-restart", Task("slow", "hold") with { Deadline = TimeSpan.FromMinutes(5) }), TimeSpan.FromMinutes(10)));
        await RunningAsync("dl-restart", run.RunId);
        var grain = fx.Run("dl-restart", run.RunId);

        // Its timers go with the activation; the deadlines pass while nothing is there to fire them.
        await grain.Cast<IGrainManagementExtension>().DeactivateOnIdle();
        fx.Time.Advance(TimeSpan.FromMinutes(11));

        // The next activation (a wake-up, a read) finds both due from the journal and marks them at once.
        var late = await fx.WaitForRunAsync("dl-restart", run.RunId, r => r.Late && r.Tasks[0].Late);
        Assert.Equal(RunState.Running, late.State);
        await WaitUntilAsync(() => NotificationRecorder.For("dl-restart").Count >= 2, "both on_late were handed over");

        await grain.Cast<IGrainManagementExtension>().DeactivateOnIdle();
        fx.Time.Advance(TimeSpan.FromMinutes(30));
        await grain.ResumeAsync();
        var again = await SettledAsync("dl-restart", run.RunId);
        Assert.True(again.Late);
        Assert.True(again.Tasks[0].Late);
        Assert.Equal(2, (await LateEventsAsync("dl-restart", run.RunId)).Count);
        Assert.Equal(
            [$"dl-restart/{run.RunId}/on_late", $"dl-restart/{run.RunId}/slow/on_late"],
            NotificationRecorder.For("dl-restart").Select(r => r.EventId).Order(StringComparer.Ordinal));
        await grain.CancelAsync();
    }

    [Fact]
    public async Task AHandOverThatFails_StaysOwed_AndIsRepeatedOnTheNextWakeUp()
    {
        var dag = WithDeadline(Dag("dl-owed", Task("slow", "hold")), TimeSpan.FromMinutes(10));
        await fx.Dag("dl-owed").ApplyAsync(dag);
        var run = await fx.Dag("dl-owed").TriggerAsync(new());
        NotificationRecorder.Refuse[$"dl-owed/{run.RunId}/on_late"] = 1;
        await RunningAsync("dl-owed", run.RunId);

        fx.Time.Advance(TimeSpan.FromMinutes(10));
        await fx.WaitForRunAsync("dl-owed", run.RunId, r => r.Late);
        await WaitUntilAsync(() => NotificationRecorder.Refuse[$"dl-owed/{run.RunId}/on_late"] == 0, "the first hand-over was tried");
        Assert.Empty(NotificationRecorder.For("dl-owed"));
        var journal = fx.SiloServices.GetRequiredService<IRunJournal>();
        Assert.DoesNotContain(await journal.ReadAsync("dl-owed", run.RunId), e => e.Kind == RunEventKinds.LateNotified);

        await fx.Run("dl-owed", run.RunId).ResumeAsync();
        await WaitUntilAsync(() => NotificationRecorder.For("dl-owed").Count > 0, "the owed hand-over was repeated");
        await SettledAsync("dl-owed", run.RunId);
        Assert.Single(await journal.ReadAsync("dl-owed", run.RunId), e => e.Kind == RunEventKinds.LateNotified);
        await fx.Run("dl-owed", run.RunId).ResumeAsync();
        await SettledAsync("dl-owed", run.RunId);
        Assert.Single(NotificationRecorder.For("dl-owed"));
        await fx.Run("dl-owed", run.RunId).CancelAsync();
    }

    [Fact]
    public async Task ADagWithoutOnLateNotifiers_IsMarkedLate_AndHandsNothingOver()
    {
        var run = await TriggerAsync(WithDeadline(Dag("dl-quiet", Task("slow", "hold")), TimeSpan.FromMinutes(1), notify: false));
        await RunningAsync("dl-quiet", run.RunId);
        fx.Time.Advance(TimeSpan.FromMinutes(1));
        await fx.WaitForRunAsync("dl-quiet", run.RunId, r => r.Late);
        await SettledAsync("dl-quiet", run.RunId);
        Assert.Empty(NotificationRecorder.For("dl-quiet"));
        await fx.Run("dl-quiet", run.RunId).CancelAsync();
    }
}
