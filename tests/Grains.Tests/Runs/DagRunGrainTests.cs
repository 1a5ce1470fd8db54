using Microsoft.Extensions.DependencyInjection;
using Batchyard.Dags;
using Batchyard.Runs;
using static Batchyard.Tests.TestDags;

namespace Batchyard.Tests.Runs;

public sealed class DagRunGrainTests(ClusterFixture fx) : IClassFixture<ClusterFixture>
{
    private async Task<RunDetails> TriggerAsync(DagDefinition dag)
    {
        await fx.Dag(dag.DagId).ApplyAsync(dag);
        return await fx.Dag(dag.DagId).TriggerAsync(new());
    }

    private static TaskInstanceDetails TaskOf(RunDetails run, string taskId) => run.Tasks.Single(t => t.TaskId == taskId);

    [Fact]
    public async Task FanOutFanIn_RunsEachTaskAfterItsUpstream_AndSucceeds()
    {
        var dag = Dag("fan", Task("extract"), Task("train", "ok", "extract"), Task("evaluate", "ok", "extract"), Task("publish", "ok", "train", "evaluate"));
        var run = await TriggerAsync(dag);
        var done = await fx.WaitForRunEndAsync("fan", run.RunId);

        Assert.Equal(RunState.Succeeded, done.State);
        Assert.All(done.Tasks, t => Assert.Equal(TaskState.Succeeded, t.State));
        var publish = TaskOf(done, "publish").Attempts.Single();
        foreach (var upstream in new[] { "train", "evaluate" })
        {
            Assert.True(TaskOf(done, upstream).Attempts.Single().EndedAt <= publish.QueuedAt, $"publish was queued before {upstream} ended");
        }
        Assert.True(TaskOf(done, "extract").Attempts.Single().EndedAt <= TaskOf(done, "train").Attempts.Single().QueuedAt);
    }

    [Fact]
    public async Task FailedTask_MarksDownstreamUpstreamFailed_AndTheRunFails()
    {
        var dag = Dag("failing", Task("a", "fail"), Task("b", "ok", "a"), Task("c", "ok", "b"), Task("side"));
        var run = await TriggerAsync(dag);
        var done = await fx.WaitForRunEndAsync("failing", run.RunId);

        Assert.Equal(RunState.Failed, done.State);
        Assert.Equal(TaskState.Failed, TaskOf(done, "a").State);
        Assert.Equal("exit code 1", TaskOf(done, "a").Attempts.Single().Reason);
        Assert.Equal(TaskState.UpstreamFailed, TaskOf(done, "b").State);
        Assert.Equal(TaskState.UpstreamFailed, TaskOf(done, "c").State);
        Assert.Equal(TaskState.Succeeded, TaskOf(done, "side").State);
        Assert.Empty(TaskOf(done, "c").Attempts);
    }

    [Fact]
    public async Task AllDoneCleanup_RunsAfterAFailure_ButTheFailedLeafStillFailsTheRun()
    {
        var cleanup = Task("cleanup", "ok", "work") with { TriggerRule = TriggerRule.AllDone };
        var onFail = Task("alert", "ok", "work") with { TriggerRule = TriggerRule.OneFailed };
        var onSuccess = Task("report", "ok", "work") with { TriggerRule = TriggerRule.AllSuccess };
        var after = Task("after-report", "ok", "report") with { TriggerRule = TriggerRule.NoneFailed };
        var run = await TriggerAsync(Dag("rules", Task("work", "fail"), cleanup, onFail, onSuccess, after));
        var done = await fx.WaitForRunEndAsync("rules", run.RunId);

        Assert.Equal(TaskState.Succeeded, TaskOf(done, "cleanup").State);
        Assert.Equal(TaskState.Succeeded, TaskOf(done, "alert").State);
        Assert.Equal(TaskState.UpstreamFailed, TaskOf(done, "report").State);
        Assert.Equal(TaskState.UpstreamFailed, TaskOf(done, "after-report").State);
        Assert.Equal(RunState.Failed, done.State);
    }

    [Fact]
    public async Task SkippedUpstream_SkipsAllSuccessDownstream_AndNoneFailedStillRuns()
    {
        var onFail = Task("on-fail", "ok", "work") with { TriggerRule = TriggerRule.OneFailed };
        var next = Task("next", "ok", "on-fail");
        var joined = Task("joined", "ok", "on-fail", "work") with { TriggerRule = TriggerRule.NoneFailed };
        var allFailed = Task("all-failed", "ok", "work") with { TriggerRule = TriggerRule.AllFailed };
        var run = await TriggerAsync(Dag("skips", Task("work"), onFail, next, joined, allFailed));
        var done = await fx.WaitForRunEndAsync("skips", run.RunId);

        Assert.Equal(TaskState.Skipped, TaskOf(done, "on-fail").State);
        Assert.Equal(TaskState.Skipped, TaskOf(done, "next").State);
        Assert.Equal(TaskState.Succeeded, TaskOf(done, "joined").State);
        Assert.Equal(TaskState.Skipped, TaskOf(done, "all-failed").State);
        Assert.Equal(RunState.Succeeded, done.State);
    }

    [Fact]
    public async Task OneSuccess_RunsAsSoonAsOneUpstreamSucceeded_WhileAnotherStillRuns()
    {
        var any = Task("any", "ok", "fast", "slow") with { TriggerRule = TriggerRule.OneSuccess };
        var run = await TriggerAsync(Dag("one-success", Task("fast"), Task("slow", "hold"), any));
        var seen = await fx.WaitForRunAsync("one-success", run.RunId, r => TaskOf(r, "any").State == TaskState.Succeeded);
        // Still unfinished (its job holds; its supervisor's word that it runs may not have arrived yet).
        Assert.False(TaskOf(seen, "slow").State.IsFinal());

        var held = await fx.WaitForRunAsync("one-success", run.RunId, r => TaskOf(r, "slow").State == TaskState.Running);
        fx.Backend.Release(TaskOf(held, "slow").Attempts.Single().JobId!, succeed: true);
        Assert.Equal(RunState.Succeeded, (await fx.WaitForRunEndAsync("one-success", run.RunId)).State);
    }

    [Fact]
    public async Task Retries_WaitRetryDelayTimesBackoff_ThenSucceedWithANewJobPerAttempt()
    {
        var flaky = Task("flaky", "fail-first 2") with { Retries = 3, RetryDelay = TimeSpan.FromSeconds(10), RetryBackoff = 3.0 };
        var run = await TriggerAsync(Dag("retries", flaky));

        var first = await fx.WaitForRunAsync("retries", run.RunId, r => TaskOf(r, "flaky").State == TaskState.UpForRetry);
        var task = TaskOf(first, "flaky");
        Assert.Equal(task.Attempts[0].EndedAt + TimeSpan.FromSeconds(10), task.NextAttemptAt);

        fx.Time.Advance(TimeSpan.FromSeconds(9));
        await System.Threading.Tasks.Task.Delay(100);
        Assert.Single(TaskOf((await fx.Run("retries", run.RunId).GetAsync())!, "flaky").Attempts);

        fx.Time.Advance(TimeSpan.FromSeconds(1));
        var second = await fx.WaitForRunAsync("retries", run.RunId, r => TaskOf(r, "flaky") is { State: TaskState.UpForRetry, Attempts.Length: 2 });
        task = TaskOf(second, "flaky");
        Assert.Equal(task.Attempts[1].EndedAt + TimeSpan.FromSeconds(30), task.NextAttemptAt);

        fx.Time.Advance(TimeSpan.FromSeconds(30));
        var done = await fx.WaitForRunEndAsync("retries", run.RunId);
        task = TaskOf(done, "flaky");
        Assert.Equal(RunState.Succeeded, done.State);
        Assert.Equal([AttemptState.Failed, AttemptState.Failed, AttemptState.Succeeded], task.Attempts.Select(a => a.State));
        Assert.Equal(3, task.Attempts.Select(a => a.JobId).Distinct().Count());
    }

    [Fact]
    public async Task ThrottledSubmits_AreDeferredAndRetried_WithoutFailingTheTaskOrStartingASecondAttempt()
    {
        var run = await TriggerAsync(Dag("busy", Task("t", "busy 3")));
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        RunDetails current;
        while ((current = (await fx.Run("busy", run.RunId).GetAsync())!).Tasks[0].State != TaskState.Running)
        {
            Assert.True(DateTime.UtcNow < deadline, "the throttled submit was never retried: " + ClusterFixture.Describe(current));
            Assert.Equal(TaskState.Queued, current.Tasks[0].State);
            fx.Time.Advance(TimeSpan.FromSeconds(20));
            await System.Threading.Tasks.Task.Delay(50);
        }
        var task = TaskOf(current, "t");
        Assert.Single(task.Attempts);
        fx.Backend.Release(task.Attempts[0].JobId!, succeed: true);
        Assert.Equal(RunState.Succeeded, (await fx.WaitForRunEndAsync("busy", run.RunId)).State);
    }

    [Fact]
    public async Task RetriesExhausted_TaskFails()
    {
        var run = await TriggerAsync(Dag("exhausted", Task("t", "fail") with { Retries = 1, RetryDelay = TimeSpan.FromSeconds(5) }));
        await fx.WaitForRunAsync("exhausted", run.RunId, r => TaskOf(r, "t").State == TaskState.UpForRetry);
        fx.Time.Advance(TimeSpan.FromSeconds(5));
        var done = await fx.WaitForRunEndAsync("exhausted", run.RunId);
        Assert.Equal(TaskState.Failed, TaskOf(done, "t").State);
        Assert.Equal(2, TaskOf(done, "t").Attempts.Length);
    }

    [Fact]
    public async Task Timeout_StopsTheJob_AndEndsTheTaskTimedOut()
    {
        var slow = Task("slow", "hold") with { Timeout = TimeSpan.FromMinutes(5) };
        var run = await TriggerAsync(Dag("timeout", slow));
        var running = await fx.WaitForRunAsync("timeout", run.RunId, r => TaskOf(r, "slow").State == TaskState.Running);
        var jobId = TaskOf(running, "slow").Attempts.Single().JobId!;

        fx.Time.Advance(TimeSpan.FromMinutes(5));
        var done = await fx.WaitForRunEndAsync("timeout", run.RunId);

        Assert.Equal(TaskState.TimedOut, TaskOf(done, "slow").State);
        Assert.Equal("timed out after 5m", TaskOf(done, "slow").Attempts.Single().Reason);
        Assert.Equal(RunState.Failed, done.State);
        await WaitUntilAsync(() => fx.Backend.Stopped.Contains(jobId));
    }

    [Fact]
    public async Task Cancel_StopsRunningJobs_AndCancelsEveryUnfinishedTask()
    {
        var run = await TriggerAsync(Dag("cancel", Task("long", "hold"), Task("after", "ok", "long"), Task("quick")));
        var running = await fx.WaitForRunAsync("cancel", run.RunId, r => TaskOf(r, "long").State == TaskState.Running && TaskOf(r, "quick").State == TaskState.Succeeded);
        var jobId = TaskOf(running, "long").Attempts.Single().JobId!;

        var cancelled = await fx.Run("cancel", run.RunId).CancelAsync();

        Assert.Equal(RunState.Cancelled, cancelled.State);
        Assert.Equal(TaskState.Cancelled, TaskOf(cancelled, "long").State);
        Assert.Equal(TaskState.Cancelled, TaskOf(cancelled, "after").State);
        Assert.Equal(TaskState.Succeeded, TaskOf(cancelled, "quick").State);
        await WaitUntilAsync(() => fx.Backend.Stopped.Contains(jobId));
        var later = await fx.WaitForRunAsync("cancel", run.RunId, r => TaskOf(r, "long").Attempts.Single().State == AttemptState.Cancelled);
        Assert.Equal(RunState.Cancelled, later.State);
    }

    [Fact]
    public async Task ClearTask_RerunsItAndItsDownstream_KeepingEarlierAttempts()
    {
        var run = await TriggerAsync(Dag("clear", Task("a"), Task("b", "fail", "a"), Task("c", "ok", "b"), Task("d", "ok", "a")));
        var failed = await fx.WaitForRunEndAsync("clear", run.RunId);
        Assert.Equal(RunState.Failed, failed.State);

        var cleared = await fx.Run("clear", run.RunId).ClearTaskAsync("b");
        Assert.Equal(RunState.Running, cleared.State);

        var again = await fx.WaitForRunAsync("clear", run.RunId, r => r.State.IsFinal() && TaskOf(r, "b").Attempts.Length == 2);
        Assert.Equal(2, TaskOf(again, "b").Attempts.Length);
        Assert.Equal(TaskState.UpstreamFailed, TaskOf(again, "c").State);
        Assert.Single(TaskOf(again, "a").Attempts);
        Assert.Single(TaskOf(again, "d").Attempts);
        Assert.Equal(RunState.Failed, again.State);
    }

    [Fact]
    public async Task ClearHeldTask_StopsItsJob_AndStartsANewAttempt()
    {
        var run = await TriggerAsync(Dag("clear-running", Task("t", "hold")));
        var running = await fx.WaitForRunAsync("clear-running", run.RunId, r => TaskOf(r, "t").State == TaskState.Running);
        var firstJob = TaskOf(running, "t").Attempts.Single().JobId!;

        await fx.Run("clear-running", run.RunId).ClearTaskAsync("t");
        var second = await fx.WaitForRunAsync("clear-running", run.RunId, r => TaskOf(r, "t") is { State: TaskState.Running, Attempts.Length: 2 });
        await WaitUntilAsync(() => fx.Backend.Stopped.Contains(firstJob));

        var secondJob = TaskOf(second, "t").Attempts[1].JobId!;
        Assert.NotEqual(firstJob, secondJob);
        fx.Backend.Release(secondJob, succeed: true);
        Assert.Equal(RunState.Succeeded, (await fx.WaitForRunEndAsync("clear-running", run.RunId)).State);
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not met in time");
            await System.Threading.Tasks.Task.Delay(10);
        }
    }
}

/// <summary>Grain state survives deactivation: it is written and read back through the storage serializer.</summary>
public sealed class GrainStateRoundTripTests(ClusterFixture fx) : IClassFixture<ClusterFixture>
{
    [Fact]
    public async Task DagRunAndTaskState_ReadBackAfterEveryActivationIsCollected()
    {
        var dag = fx.Dag("round-trip");
        await dag.ApplyAsync(TestDags.Dag("round-trip", TestDags.Task("a"), TestDags.Task("b", "fail", "a") with { Retries = 0 }) with { Schedule = "@daily", Tags = ["x"] });
        // Paused, so that no slot (other tests move the shared clock) activates the DAG again meanwhile.
        await dag.SetPausedAsync(true);
        var run = await dag.TriggerAsync(new());
        var before = await fx.WaitForRunEndAsync("round-trip", run.RunId);

        var management = fx.Grains.GetGrain<IManagementGrain>(0);
        await management.ForceActivationCollection(TimeSpan.FromMilliseconds(1));
        Assert.DoesNotContain(await management.GetDetailedGrainStatistics(), s => s.GrainId.ToString().Contains("round-trip", StringComparison.Ordinal));

        var after = await fx.Run("round-trip", run.RunId).GetAsync();
        Assert.Equal(Batchyard.Tests.ClusterFixture.Describe(before), Batchyard.Tests.ClusterFixture.Describe(after));
        Assert.Equal(before.Tasks[1].Attempts[0].Reason, after!.Tasks[1].Attempts[0].Reason);
        var info = (await dag.GetAsync())!;
        Assert.Equal(new[] { "x" }, info.Definition!.Tags.ToArray());
        Assert.Equal("@daily", info.Definition.Schedule);
        Assert.Contains("round-trip", await fx.Grains.GetGrain<Batchyard.Grains.IDagRegistryGrain>(0).ListAsync());
        Assert.Equal(Batchyard.Runs.TaskState.Failed, await fx.Run("round-trip", run.RunId).GetTaskStateAsync("b"));
    }
}

/// <summary>Run watchers: changes pushed to an observer reference, as a dashboard on another silo or a client gets them.</summary>
public sealed class RunWatchTests(ClusterFixture fx) : IClassFixture<ClusterFixture>
{
    private sealed class Recorder : Batchyard.Grains.IRunObserver
    {
        public System.Collections.Concurrent.ConcurrentQueue<RunDetails> Seen { get; } = new();

        public System.Threading.Tasks.Task OnRunChangedAsync(RunDetails run)
        {
            Seen.Enqueue(run);
            return System.Threading.Tasks.Task.CompletedTask;
        }
    }

    [Fact]
    public async Task WatchAsync_PushesEveryChangeToTheObserver_UntilUnwatched()
    {
        var dag = fx.Dag("watched");
        await dag.ApplyAsync(TestDags.Dag("watched", TestDags.Task("hold", "hold")));
        var run = await dag.TriggerAsync(new());
        var recorder = new Recorder();
        var reference = fx.Grains.CreateObjectReference<Batchyard.Grains.IRunObserver>(recorder);
        await fx.Run("watched", run.RunId).WatchAsync(reference);

        var running = await fx.WaitForRunAsync("watched", run.RunId, r => r.Tasks[0].State == TaskState.Running);
        fx.Backend.Release(running.Tasks[0].Attempts[0].JobId!, succeed: true);
        await fx.WaitForRunEndAsync("watched", run.RunId);

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!recorder.Seen.Any(r => r.State == RunState.Succeeded))
        {
            Assert.True(DateTime.UtcNow < deadline, "the observer never heard that the run succeeded");
            await System.Threading.Tasks.Task.Delay(20);
        }
        Assert.All(recorder.Seen, r => Assert.Equal(run.RunId, r.RunId));

        await fx.Run("watched", run.RunId).UnwatchAsync(reference);
        var count = recorder.Seen.Count;
        await fx.Run("watched", run.RunId).ClearTaskAsync("hold");
        await fx.WaitForRunAsync("watched", run.RunId, r => r.Tasks[0].Attempts.Length == 2);
        await System.Threading.Tasks.Task.Delay(400);
        Assert.Equal(count, recorder.Seen.Count);
        fx.Grains.DeleteObjectReference<Batchyard.Grains.IRunObserver>(reference);
    }
}

public sealed class RunWakeReminderTests(ClusterFixture fx) : IClassFixture<ClusterFixture>
{
    [Fact]
    public async Task ARun_HasItsWakeReminderWhileActive_AndNoneOnceItEnds()
    {
        var dag = fx.Dag("wake-reminder");
        await dag.ApplyAsync(TestDags.Dag("wake-reminder", TestDags.Task("a", "hold")));
        var run = await dag.TriggerAsync(new());
        var table = fx.SiloServices.GetRequiredService<Orleans.IReminderTable>();
        var grainId = fx.Run("wake-reminder", run.RunId).GetGrainId();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while ((await table.ReadRows(grainId)).Reminders.Count == 0 && DateTime.UtcNow < deadline)
        {
            await System.Threading.Tasks.Task.Delay(20);
        }
        Assert.Single((await table.ReadRows(grainId)).Reminders);

        await fx.Run("wake-reminder", run.RunId).CancelAsync();
        await fx.WaitForRunEndAsync("wake-reminder", run.RunId);

        deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while ((await table.ReadRows(grainId)).Reminders.Count > 0 && DateTime.UtcNow < deadline)
        {
            await System.Threading.Tasks.Task.Delay(20);
        }
        Assert.Empty((await table.ReadRows(grainId)).Reminders);
    }
}
