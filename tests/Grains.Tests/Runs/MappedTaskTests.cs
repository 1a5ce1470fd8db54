using System.Collections.Immutable;
using Batchyard.Backends;
using Batchyard.Dags;
using Batchyard.Runs;
using static Batchyard.Tests.TestDags;

namespace Batchyard.Tests.Runs;

/// <summary>Mapped tasks, outputs passed downstream, and conditions, through the run grain.</summary>
public sealed class MappedTaskTests(ClusterFixture fx) : IClassFixture<ClusterFixture>
{
    private async Task<RunDetails> TriggerAsync(DagDefinition dag, ImmutableDictionary<string, string>? parameters = null)
    {
        await fx.Dag(dag.DagId).ApplyAsync(dag);
        return await fx.Dag(dag.DagId).TriggerAsync(new TriggerRequest { Params = parameters ?? ImmutableDictionary<string, string>.Empty });
    }

    private static TaskDefinition Mapped(string taskId, string script, MapSpec map, params string[] upstream) =>
        Task(taskId, script, upstream) with { Map = map };

    private static MapSpec Over(params string[] items) => new() { Items = [.. items.Select(i => System.Text.Json.JsonSerializer.Serialize(i))] };

    private static TaskInstanceDetails Entry(RunDetails run, string taskId, int? mapIndex = null) =>
        run.Tasks.Single(t => t.TaskId == taskId && t.MapIndex == mapIndex);

    private static string Job(string dagId, RunDetails run, string taskId, int attempt, int? mapIndex = null) =>
        JobNames.For(dagId, run.RunId, taskId, attempt, mapIndex);

    [Fact]
    public async Task LiteralList_MakesOneInstancePerItem_AndDownstreamWaitsForAll()
    {
        var dag = Dag("map-literal", Task("start"), Mapped("score", "ok", Over("a", "b", "c"), "start") with { Command = ["ok", "{{ item }}", "{{ map_index }}"] }, Task("join", "ok", "score"));
        var run = await TriggerAsync(dag);
        var done = await fx.WaitForRunEndAsync(dag.DagId, run.RunId);

        Assert.Equal(RunState.Succeeded, done.State);
        var parent = Entry(done, "score");
        Assert.Equal(3, parent.MapCount);
        Assert.Equal(TaskState.Succeeded, parent.State);
        Assert.Empty(parent.Attempts);
        for (var i = 0; i < 3; i++)
        {
            var instance = Entry(done, "score", i);
            Assert.Equal(TaskState.Succeeded, instance.State);
            Assert.Equal(["ok", "abc"[i].ToString(), i.ToString(System.Globalization.CultureInfo.InvariantCulture)], fx.Backend.CommandOf(Job(dag.DagId, done, "score", 1, i)));
            Assert.True(instance.Attempts.Single().EndedAt <= Entry(done, "join").Attempts.Single().QueuedAt, $"join was queued before instance {i} ended");
        }
        Assert.Equal(["start", "score", "score", "score", "score", "join"], done.Tasks.Select(t => t.TaskId));
    }

    [Fact]
    public async Task UpstreamOutput_IsMappedOver_AndAMappedTasksOutputIsTheListOfItsInstances()
    {
        var dag = Dag(
            "map-output",
            Task("list") with { Command = ["output", """{"shards": ["s1", "s2"], "n": 2}"""] },
            Mapped("score", "ok", new MapSpec { Over = "{{ tasks.list.output.shards }}" }, "list") with { Command = ["output", "{\"shard\":\"{{ item }}\",\"n\":{{ tasks.list.output.n }}}"] },
            Task("sum", "ok", "score") with { Command = ["ok", "{{ tasks.score.output }}"] });
        var run = await TriggerAsync(dag);
        var done = await fx.WaitForRunEndAsync(dag.DagId, run.RunId);

        Assert.Equal(RunState.Succeeded, done.State);
        Assert.Equal("""{"shards":["s1","s2"],"n":2}""", Entry(done, "list").Attempts.Single().Output);
        Assert.Equal(2, Entry(done, "score").MapCount);
        Assert.Equal("""{"shard":"s2","n":2}""", Entry(done, "score", 1).Attempts.Single().Output);
        Assert.Equal(["ok", """[{"shard":"s1","n":2},{"shard":"s2","n":2}]"""], fx.Backend.CommandOf(Job(dag.DagId, done, "sum", 1)));
    }

    [Fact]
    public async Task ParamHoldingAJsonList_IsMappedOver()
    {
        var dag = Dag("map-param", Mapped("each", "ok", new MapSpec { Over = "{{ params.models }}" }) with { Command = ["ok", "{{ item.name }}"] });
        var run = await TriggerAsync(dag, ImmutableDictionary<string, string>.Empty.Add("models", """[{"name": "m1"}, {"name": "m2"}]"""));
        var done = await fx.WaitForRunEndAsync(dag.DagId, run.RunId);

        Assert.Equal(RunState.Succeeded, done.State);
        Assert.Equal(["ok", "m2"], fx.Backend.CommandOf(Job(dag.DagId, done, "each", 1, 1)));
    }

    [Fact]
    public async Task EmptyList_SkipsTheMappedTask_AndAllSuccessDownstreamFollows()
    {
        var dag = Dag("map-empty", Mapped("score", "ok", new MapSpec { Over = "[]" }), Task("join", "ok", "score"), Task("always", "ok", "score") with { TriggerRule = TriggerRule.AllDone });
        var run = await TriggerAsync(dag);
        var done = await fx.WaitForRunEndAsync(dag.DagId, run.RunId);

        Assert.Equal(TaskState.Skipped, Entry(done, "score").State);
        Assert.Null(Entry(done, "score").MapCount);
        Assert.Equal(TaskState.Skipped, Entry(done, "join").State);
        Assert.Equal(TaskState.Succeeded, Entry(done, "always").State);
        Assert.Equal(RunState.Succeeded, done.State);
    }

    [Fact]
    public async Task TooManyItems_FailTheMappedTaskWithTheReason()
    {
        var items = "[" + string.Join(",", Enumerable.Range(0, MapSpec.MaxInstances + 1)) + "]";
        var dag = Dag("map-huge", Mapped("score", "ok", new MapSpec { Over = "{{ params.items }}" }));
        var run = await TriggerAsync(dag, ImmutableDictionary<string, string>.Empty.Add("items", items));
        var done = await fx.WaitForRunEndAsync(dag.DagId, run.RunId);

        Assert.Equal(RunState.Failed, done.State);
        var score = Entry(done, "score");
        Assert.Equal(TaskState.Failed, score.State);
        Assert.Contains("10001 items; a mapped task has at most 10000 instances", score.Attempts.Single().Reason);
        Assert.Null(score.Attempts.Single().JobId);
    }

    [Fact]
    public async Task MaxActive_CapsTheInstancesRunningAtOnce()
    {
        var dag = Dag("map-cap", Mapped("hold", "hold", Over("0", "1", "2", "3", "4") with { MaxActive = 2 }));
        var run = await TriggerAsync(dag);
        var released = new HashSet<int>();
        int Running() => Enumerable.Range(0, 5).Count(i => fx.Backend.IsRunning(Job(dag.DagId, run, "hold", 1, i)));
        while (released.Count < 5)
        {
            // Never more than two at once, and the next one starts as soon as a place is free.
            var expected = Math.Min(2, 5 - released.Count);
            await WaitUntilAsync(() =>
            {
                var running = Running();
                Assert.True(running <= 2, $"{running} instances ran at once; the cap is 2");
                return running == expected;
            });
            var next = Enumerable.Range(0, 5).First(i => !released.Contains(i) && fx.Backend.IsRunning(Job(dag.DagId, run, "hold", 1, i)));
            fx.Backend.Release(Job(dag.DagId, run, "hold", 1, next), succeed: true);
            released.Add(next);
        }
        var done = await fx.WaitForRunEndAsync(dag.DagId, run.RunId);
        Assert.Equal(RunState.Succeeded, done.State);
        Assert.Equal([0, 1, 2, 3, 4], released.Order());
    }

    [Fact]
    public async Task TriggerRules_CountInstances_OneFailedFiresOnTheFirstFailure()
    {
        var dag = Dag(
            "map-rules",
            Mapped("work", "ok", Over("fail", "hold")) with { Command = ["{{ item }}"] },
            Task("alert", "ok", "work") with { TriggerRule = TriggerRule.OneFailed },
            Task("report", "ok", "work"));
        var run = await TriggerAsync(dag);

        // The alert runs while the other instance still runs: one failed instance is enough.
        var alerted = await fx.WaitForRunAsync(dag.DagId, run.RunId, r => Entry(r, "alert").State == TaskState.Succeeded);
        Assert.Equal(TaskState.Running, Entry(alerted, "work", 1).State);
        Assert.Equal(TaskState.Running, Entry(alerted, "work").State);

        fx.Backend.Release(Job(dag.DagId, run, "work", 1, 1), succeed: true);
        var done = await fx.WaitForRunEndAsync(dag.DagId, run.RunId);
        Assert.Equal(TaskState.Failed, Entry(done, "work").State);
        Assert.Equal(TaskState.UpstreamFailed, Entry(done, "report").State);
        Assert.Equal(RunState.Failed, done.State);
    }

    [Fact]
    public async Task OneInstance_RetriesAlone()
    {
        var dag = Dag("map-retry", Mapped("work", "ok", Over("ok", "fail-first", "ok")) with { Command = ["{{ item }}", "1"], Retries = 1, RetryDelay = TimeSpan.FromSeconds(5) });
        var run = await TriggerAsync(dag);
        await fx.WaitForRunAsync(dag.DagId, run.RunId, r => Entry(r, "work", 1).State == TaskState.UpForRetry);
        fx.Time.Advance(TimeSpan.FromSeconds(6));
        var done = await fx.WaitForRunEndAsync(dag.DagId, run.RunId);

        Assert.Equal(RunState.Succeeded, done.State);
        Assert.Equal(2, Entry(done, "work", 1).Attempts.Length);
        Assert.Single(Entry(done, "work", 0).Attempts);
        Assert.Single(Entry(done, "work", 2).Attempts);
    }

    [Fact]
    public async Task ClearingOneInstance_RerunsItAndDownstream_SiblingsKeepTheirResults()
    {
        var dag = Dag("map-clear", Mapped("work", "ok", Over("a", "b", "c")), Task("join", "ok", "work"));
        var run = await TriggerAsync(dag);
        await fx.WaitForRunEndAsync(dag.DagId, run.RunId);

        await fx.Run(dag.DagId, run.RunId).ClearTaskAsync("work", 1);
        var done = await fx.WaitForRunEndAsync(dag.DagId, run.RunId);

        Assert.Equal(RunState.Succeeded, done.State);
        Assert.Equal(2, Entry(done, "work", 1).Attempts.Length);
        Assert.Single(Entry(done, "work", 0).Attempts);
        Assert.Single(Entry(done, "work", 2).Attempts);
        Assert.Equal(2, Entry(done, "join").Attempts.Length);
        await Assert.ThrowsAsync<KeyNotFoundException>(() => fx.Run(dag.DagId, run.RunId).ClearTaskAsync("work", 3));
    }

    [Fact]
    public async Task ClearingTheMappedTask_ExpandsItAgain()
    {
        var dag = Dag("map-clear-all", Mapped("work", "ok", Over("a", "b")));
        var run = await TriggerAsync(dag);
        await fx.WaitForRunEndAsync(dag.DagId, run.RunId);

        await fx.Run(dag.DagId, run.RunId).ClearTaskAsync("work");
        var done = await fx.WaitForRunEndAsync(dag.DagId, run.RunId);
        Assert.Equal(RunState.Succeeded, done.State);
        Assert.All(done.Tasks.Where(t => t.MapIndex is not null), t => Assert.Equal(2, t.Attempts.Length));
    }

    [Fact]
    public async Task Cancel_StopsEveryInstance()
    {
        var dag = Dag("map-cancel", Mapped("hold", "hold", Over("a", "b", "c")));
        var run = await TriggerAsync(dag);
        await fx.WaitForRunAsync(dag.DagId, run.RunId, r => r.Tasks.Count(t => t.MapIndex is not null && t.State == TaskState.Running) == 3);

        var cancelled = await fx.Run(dag.DagId, run.RunId).CancelAsync();
        Assert.Equal(RunState.Cancelled, cancelled.State);
        Assert.All(cancelled.Tasks, t => Assert.Equal(TaskState.Cancelled, t.State));
        for (var i = 0; i < 3; i++)
        {
            var job = Job(dag.DagId, run, "hold", 1, i);
            await WaitUntilAsync(() => fx.Backend.Stopped.Contains(job));
        }
    }

    [Fact]
    public async Task Condition_FalseSkipsTheTask_TrueRunsIt()
    {
        var dag = Dag(
            "when",
            Task("evaluate") with { Command = ["output", """{"auc": 0.91}"""] },
            Task("publish", "ok", "evaluate") with { When = "{{ tasks.evaluate.output.auc }} >= 0.9 and {{ params.publish }} == 'yes'" },
            Task("announce", "ok", "publish"),
            Task("retrain", "ok", "evaluate") with { When = "{{ tasks.evaluate.output.auc }} < 0.9" },
            Task("after-retrain", "ok", "retrain"));
        var run = await TriggerAsync(dag, ImmutableDictionary<string, string>.Empty.Add("publish", "yes"));
        var done = await fx.WaitForRunEndAsync(dag.DagId, run.RunId);

        Assert.Equal(TaskState.Succeeded, Entry(done, "publish").State);
        Assert.Equal(TaskState.Succeeded, Entry(done, "announce").State);
        Assert.Equal(TaskState.Skipped, Entry(done, "retrain").State);
        Assert.Empty(Entry(done, "retrain").Attempts);
        Assert.Equal(TaskState.Skipped, Entry(done, "after-retrain").State);
        Assert.Equal(RunState.Succeeded, done.State);
    }

    [Fact]
    public async Task Condition_OverASkippedTasksOutput_IsFalse_AndAnUnfitValueFailsWithTheReason()
    {
        var dag = Dag(
            "when-skipped",
            Task("gate") with { Command = ["output", """{"go": false, "name": "x"}"""] },
            Task("maybe", "ok", "gate") with { Command = ["output", "{\"v\":1}"], When = "{{ tasks.gate.output.go }}" },
            Task("after", "ok", "maybe") with { TriggerRule = TriggerRule.NoneFailed, When = "{{ tasks.maybe.output.v }} == 1" },
            Task("unfit", "ok", "gate") with { When = "{{ tasks.gate.output.name }} > 3" });
        var run = await TriggerAsync(dag);
        var done = await fx.WaitForRunEndAsync(dag.DagId, run.RunId);

        Assert.Equal(TaskState.Skipped, Entry(done, "maybe").State);
        Assert.Equal(TaskState.Skipped, Entry(done, "after").State);
        Assert.Equal(TaskState.Failed, Entry(done, "unfit").State);
        Assert.StartsWith("when: cannot compare", Entry(done, "unfit").Attempts.Single().Reason);
    }

    [Fact]
    public async Task InvalidOutput_FailsTheAttempt_AndAMissingOutputFailsTheTaskThatNeedsIt()
    {
        var dag = Dag(
            "bad-output",
            Task("list-not-object") with { Command = ["output", "[1, 2]"] },
            Task("quiet"),
            Task("needs", "ok", "quiet") with { Command = ["ok", "{{ tasks.quiet.output.x }}"] });
        var run = await TriggerAsync(dag);
        var done = await fx.WaitForRunEndAsync(dag.DagId, run.RunId);

        Assert.Equal(TaskState.Failed, Entry(done, "list-not-object").State);
        Assert.StartsWith("output is not a JSON object", Entry(done, "list-not-object").Attempts.Single().Reason);
        Assert.Equal(TaskState.Failed, Entry(done, "needs").State);
        Assert.Contains("task 'quiet' has no output", Entry(done, "needs").Attempts.Single().Reason);
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out");
            await System.Threading.Tasks.Task.Delay(20);
        }
    }
}
