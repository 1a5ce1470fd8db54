using Batchyard.Dags;
using Batchyard.Runs;
using static Batchyard.Tests.TestDags;

namespace Batchyard.Tests.Dags;

public sealed class DagGrainTests(ClusterFixture fx) : IClassFixture<ClusterFixture>
{
    private static DagDefinition Hourly(string dagId, bool catchup) =>
        Dag(dagId, Task("t")) with { Schedule = "0 * * * *", Catchup = catchup };

    [Fact]
    public async Task Unpause_WithCatchup_CreatesEveryMissedSlotOnce()
    {
        var dag = fx.Dag("catchup-on");
        await dag.ApplyAsync(Hourly("catchup-on", catchup: true));
        await dag.SetPausedAsync(true);
        var start = fx.Time.GetUtcNow();
        fx.Time.Advance(TimeSpan.FromHours(3));

        await dag.SetPausedAsync(false);
        var again = await dag.EvaluateScheduleAsync();

        var info = (await dag.GetAsync())!;
        var slots = info.RecentRuns.Where(r => r.RunType == "scheduled").Select(r => r.LogicalDate).Order().ToList();
        Assert.Equal(3, slots.Count);
        Assert.All(slots, s => Assert.Equal(0, s.Minute));
        Assert.True(slots[0] > start && slots[^1] <= fx.Time.GetUtcNow());
        Assert.Empty(again);
    }

    [Fact]
    public async Task Unpause_WithoutCatchup_CreatesOnlyTheNewestMissedSlot()
    {
        var dag = fx.Dag("catchup-off");
        await dag.ApplyAsync(Hourly("catchup-off", catchup: false));
        await dag.SetPausedAsync(true);
        fx.Time.Advance(TimeSpan.FromHours(3));

        await dag.SetPausedAsync(false);

        var runs = (await dag.GetAsync())!.RecentRuns.Where(r => r.RunType == "scheduled").ToList();
        var run = Assert.Single(runs);
        Assert.True(fx.Time.GetUtcNow() - run.LogicalDate < TimeSpan.FromHours(1));
    }

    [Fact]
    public async Task EvaluateSchedule_TwiceForTheSameSlot_CreatesOneRun()
    {
        var dag = fx.Dag("once");
        await dag.ApplyAsync(Hourly("once", catchup: false));
        fx.Time.Advance(TimeSpan.FromHours(1));

        // The DAG's schedule shard fires the slot too (its timer follows the same clock): one run in all.
        var first = await dag.EvaluateScheduleAsync();
        var second = await dag.EvaluateScheduleAsync();

        var runs = (await dag.GetAsync())!.RecentRuns.Where(r => r.RunType == "scheduled").ToList();
        var run = Assert.Single(runs);
        Assert.True(first.Length <= 1);
        Assert.Empty(second);
        Assert.StartsWith("scheduled__", run.RunId, StringComparison.Ordinal);
        Assert.Null(await fx.Run("once", run.RunId).CreateAsync(new Grains.RunStart { Dag = Hourly("once", false), RunId = run.RunId }));
    }

    [Fact]
    public async Task TriggeredBy_IsTheCallersKeyName_OrScheduleForACronRun()
    {
        var dag = fx.Dag("triggered-by");
        await dag.ApplyAsync(Hourly("triggered-by", catchup: false));
        fx.Time.Advance(TimeSpan.FromHours(1));

        // The slot's run, whether this call or the DAG's schedule shard made it.
        await dag.EvaluateScheduleAsync();
        var scheduled = Assert.Single((await dag.GetAsync())!.RecentRuns, r => r.RunType == "scheduled").RunId;
        var manual = await dag.TriggerAsync(new() { TriggeredBy = "ci" });

        Assert.Equal(Grains.RunStart.Schedule, (await fx.Run("triggered-by", scheduled).GetAsync())!.TriggeredBy);
        Assert.Equal("ci", manual.TriggeredBy);
        Assert.Equal("ci", (await fx.Run("triggered-by", manual.RunId).GetAsync())!.TriggeredBy);
    }

    [Fact]
    public async Task MaxActiveRuns_QueuesExtraRuns_AndAdmitsThemInOrder()
    {
        var dag = fx.Dag("max-active");
        await dag.ApplyAsync(Dag("max-active", Task("t", "hold")) with { MaxActiveRuns = 1 });
        var first = await dag.TriggerAsync(new());
        fx.Time.Advance(TimeSpan.FromSeconds(1));
        var second = await dag.TriggerAsync(new());

        Assert.Equal(RunState.Running, first.State);
        Assert.Equal(RunState.Queued, second.State);
        var info = (await dag.GetAsync())!;
        Assert.Equal((1, 1), (info.ActiveRuns, info.QueuedRuns));

        var running = await fx.WaitForRunAsync("max-active", first.RunId, r => r.Tasks[0].State == TaskState.Running);
        Assert.Equal(RunState.Queued, (await fx.Run("max-active", second.RunId).GetAsync())!.State);
        fx.Backend.Release(running.Tasks[0].Attempts[0].JobId!, succeed: true);

        await fx.WaitForRunAsync("max-active", second.RunId, r => r.State == RunState.Running);
    }

    [Fact]
    public async Task Trigger_MergesParamsOverDefaults()
    {
        var dag = fx.Dag("params");
        await dag.ApplyAsync(Dag("params", Task("t")) with { Params = System.Collections.Immutable.ImmutableDictionary<string, string>.Empty.Add("rate", "0.1").Add("mode", "full") });
        var run = await dag.TriggerAsync(new() { Params = System.Collections.Immutable.ImmutableDictionary<string, string>.Empty.Add("rate", "0.5") });
        Assert.Equal("0.5", run.Params["rate"]);
        Assert.Equal("full", run.Params["mode"]);
        Assert.StartsWith("manual__", run.RunId, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Delete_HidesTheDag_ButItsRunsStayReadable()
    {
        var dag = fx.Dag("deleted");
        await dag.ApplyAsync(Dag("deleted", Task("t")));
        var run = await dag.TriggerAsync(new());
        await fx.WaitForRunEndAsync("deleted", run.RunId);

        await dag.DeleteAsync();

        Assert.Null(await dag.GetAsync());
        Assert.Equal(RunState.Succeeded, (await fx.Run("deleted", run.RunId).GetAsync())!.State);
        Assert.DoesNotContain("deleted", await fx.Grains.GetGrain<Grains.IDagRegistryGrain>(0).ListAsync());
    }

    [Fact]
    public async Task Reminder_FiresTheScheduleWithoutAnyoneCallingIt()
    {
        var dag = fx.Dag("every-second");
        await dag.ApplyAsync(Dag("every-second", Task("t")) with { Schedule = "* * * * * *" });
        fx.Time.Advance(TimeSpan.FromSeconds(3));

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while ((await dag.GetAsync())!.RecentRuns.All(r => r.RunType != "scheduled"))
        {
            Assert.True(DateTime.UtcNow < deadline, "the schedule reminder never fired");
            await System.Threading.Tasks.Task.Delay(50);
        }
    }

    [Fact]
    public async Task Apply_OfTheVersionItHas_ChangesNothing_AndADifferentOneIsApplied()
    {
        var dag = fx.Dag("same-again");
        await dag.ApplyAsync(Hourly("same-again", catchup: false));
        var first = (await dag.GetAsync())!;
        fx.Time.Advance(TimeSpan.FromMinutes(5));

        // Another silo loading the same folder, or a restarted one, applies the same file again: no write.
        var again = await dag.ApplyAsync(Hourly("same-again", catchup: false));
        Assert.Equal(first.UpdatedAt, again.UpdatedAt);
        Assert.Equal(first.NextRunAt, again.NextRunAt);

        // Same version string, different content: applied.
        var changed = await dag.ApplyAsync(Hourly("same-again", catchup: false) with { Description = "changed" });
        Assert.True(changed.UpdatedAt > first.UpdatedAt);
        Assert.Equal("changed", changed.Definition!.Description);
    }

    [Fact]
    public async Task Apply_OfTheVersionItHas_AfterARefusedFile_ClearsTheProblems()
    {
        var dag = fx.Dag("same-after-refused");
        await dag.ApplyAsync(Hourly("same-after-refused", catchup: false));
        await dag.RecordRefusedAsync(["same-after-refused.yaml:3: broken"]);
        Assert.NotEmpty((await dag.GetAsync())!.LoadErrors);

        // The good file is back as it was: the DAG shows no problems again.
        var info = await dag.ApplyAsync(Hourly("same-after-refused", catchup: false));
        Assert.Empty(info.LoadErrors);
        Assert.Empty((await dag.GetAsync())!.LoadErrors);
    }
}

/// <summary>Cron slots across daylight-saving changes (America/New_York, 2026).</summary>
public sealed class DagScheduleDstTests : IAsyncLifetime
{
    private readonly ClusterFixture _fx = new();

    public Task InitializeAsync() => _fx.InitializeAsync();

    public Task DisposeAsync() => _fx.DisposeAsync();

    [Fact]
    public async Task CronSlots_AcrossSpringForwardAndFallBack_FireOncePerDayAtTheRightInstant()
    {
        var dag = _fx.Dag("dst");
        _fx.Time.SetUtcNow(new DateTimeOffset(2026, 3, 7, 12, 0, 0, TimeSpan.Zero));
        await dag.ApplyAsync(Dag("dst", Task("t")) with { Schedule = "30 2 * * *", Timezone = "America/New_York" });

        // Whoever fires a slot first (its shard's timer on the same clock, or this call), it becomes one run.
        async Task<List<string>> Fired(DateTimeOffset since) =>
            [.. (await dag.GetAsync())!.RecentRuns.Where(r => r.RunType == "scheduled" && r.LogicalDate > since).Select(r => r.RunId).Order(StringComparer.Ordinal)];
        var start = _fx.Time.GetUtcNow();
        for (var day = 0; day < 3; day++)
        {
            _fx.Time.Advance(TimeSpan.FromDays(1));
            await dag.EvaluateScheduleAsync();
        }
        var fired = await Fired(start);
        // 02:30 does not exist on 8 March (clocks jump to 03:00 EDT): the slot runs at 03:00 EDT = 07:00Z.
        Assert.Equal(["scheduled__2026-03-08T07:00:00Z", "scheduled__2026-03-09T06:30:00Z", "scheduled__2026-03-10T06:30:00Z"], fired);

        await dag.ApplyAsync(Dag("dst", Task("t")) with { Schedule = "30 1 * * *", Timezone = "America/New_York" });
        _fx.Time.SetUtcNow(new DateTimeOffset(2026, 10, 31, 12, 0, 0, TimeSpan.Zero));
        await dag.EvaluateScheduleAsync();
        var autumn = _fx.Time.GetUtcNow();
        for (var hour = 0; hour < 48; hour++)
        {
            _fx.Time.Advance(TimeSpan.FromHours(1));
            await dag.EvaluateScheduleAsync();
        }
        // The last slot's run may still be on its way to the DAG's recent runs on a busy machine: wait for it (a
        // second run of a slot would still show, and fail the comparison).
        var until = DateTime.UtcNow.AddSeconds(30);
        while ((fired = await Fired(autumn)).Count < 2 && DateTime.UtcNow < until)
        {
            await System.Threading.Tasks.Task.Delay(50);
        }
        // 01:30 happens twice on 1 November (EDT, then EST): it fires once, at the first.
        Assert.Equal(["scheduled__2026-11-01T05:30:00Z", "scheduled__2026-11-02T06:30:00Z"], fired);
    }
}
