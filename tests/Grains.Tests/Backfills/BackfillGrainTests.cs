using Orleans.Core.Internal;
using System.Collections.Immutable;
using Batchyard.Grains;
using Batchyard.History;
using Batchyard.Runs;
using Microsoft.Extensions.DependencyInjection;
using static Batchyard.Tests.TestDags;

namespace Batchyard.Tests.Backfills;

public sealed class BackfillGrainTests(ClusterFixture fx) : IClassFixture<ClusterFixture>
{
    private static readonly DateTimeOffset Day = new(2025, 6, 1, 0, 0, 0, TimeSpan.Zero);

    private IRunHistoryStore History => fx.SiloServices.GetRequiredService<IRunHistoryStore>();

    [Fact]
    public async Task Backfill_AcrossBerlinDstChanges_MakesOneRunPerLocalDayAtTheCronInstant()
    {
        var dag = fx.Dag("bf-dst");
        await dag.ApplyAsync(Dag("bf-dst", Task("t")) with { Schedule = "30 2 * * *", Timezone = "Europe/Berlin" });

        // Spring forward (30 March 2025): 02:30 does not exist and fires at 03:00 CEST; fall back (26 October): 02:30 comes twice, fires once.
        var spring = await dag.CreateBackfillAsync(new() { From = At("2025-03-29T00:00:00Z"), To = At("2025-03-31T23:59:00Z") });
        var autumn = await dag.CreateBackfillAsync(new() { From = At("2025-10-25T00:00:00Z"), To = At("2025-10-27T23:59:00Z") });
        Assert.Equal(3, spring.Total);
        Assert.Equal(3, autumn.Total);
        Assert.Equal(BackfillState.Succeeded, (await WaitEndAsync("bf-dst", spring.BackfillId)).State);
        Assert.Equal(BackfillState.Succeeded, (await WaitEndAsync("bf-dst", autumn.BackfillId)).State);

        var runs = await History.ListRunsAsync("bf-dst", null, null, 100);
        Assert.Equal(
            [At("2025-03-29T01:30:00Z"), At("2025-03-30T01:00:00Z"), At("2025-03-31T00:30:00Z"), At("2025-10-25T00:30:00Z"), At("2025-10-26T00:30:00Z"), At("2025-10-27T01:30:00Z")],
            runs.Select(r => r.LogicalDate).Order().ToArray());
        Assert.All(runs, r => Assert.Equal("backfill", r.RunType));
        Assert.All(runs, r => Assert.StartsWith("backfill__", r.RunId, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(BackfillReprocess.Missing, 1, 2, 1)]
    [InlineData(BackfillReprocess.Failed, 2, 1, 2)]
    [InlineData(BackfillReprocess.All, 3, 0, 2)]
    public async Task Backfill_OverScheduledRuns_ReprocessesAsItsModeSays(BackfillReprocess mode, int created, int skipped, int okAttempts)
    {
        var dagId = "bf-mode-" + mode.ToString().ToLowerInvariant();
        var (slots, okRun, failedRun) = await ThreeSlotsAsync(dagId);

        var backfill = await fx.Dag(dagId).CreateBackfillAsync(new() { From = slots[0], To = slots[2], Reprocess = mode });
        var done = await WaitEndAsync(dagId, backfill.BackfillId);

        Assert.Equal((created, skipped, 3), (done.Created, done.Skipped, done.Total));
        Assert.Equal(BackfillState.Succeeded, done.State);
        var runs = await History.ListRunsAsync(dagId, null, null, 100);
        Assert.Equal(3, runs.Length);
        Assert.Equal(slots.Order(), runs.Select(r => r.LogicalDate).Order());
        var failed = (await fx.Run(dagId, failedRun).GetAsync())!;
        Assert.Equal(mode == BackfillReprocess.Missing ? RunState.Failed : RunState.Succeeded, failed.State);
        var ok = (await fx.Run(dagId, okRun).GetAsync())!;
        Assert.Equal(mode == BackfillReprocess.All ? 2 : 1, ok.Tasks.Single().Attempts.Length);
        Assert.Equal(okAttempts, failed.Tasks.Single().Attempts.Length);
    }

    [Fact]
    public async Task Backfill_Backwards_StartsWithTheNewestSlot_AndCancelStopsItsJobsAndMakesNoMore()
    {
        var dag = fx.Dag("bf-back");
        await dag.ApplyAsync(Dag("bf-back", Task("t", "hold")) with { Schedule = "0 0 * * *" });
        var backfill = await dag.CreateBackfillAsync(new() { From = Day, To = Day.AddDays(3), Backwards = true, MaxActiveRuns = 1 });
        await WaitAsync("bf-back", backfill.BackfillId, b => b.Running == 1);

        var newest = await fx.WaitForRunAsync("bf-back", "backfill__2025-06-04T00:00:00Z", r => r.Tasks.Single().Attempts.Length == 1 && r.Tasks.Single().Attempts[0].JobId is not null);
        Assert.Null(await fx.Run("bf-back", "backfill__2025-06-03T00:00:00Z").GetAsync());
        var job = newest.Tasks.Single().Attempts[0].JobId!;

        var cancelled = await fx.Grains.GetGrain<IBackfillGrain>("bf-back/" + backfill.BackfillId).CancelAsync();
        Assert.Equal(BackfillState.Cancelled, cancelled.State);
        Assert.Equal(RunState.Cancelled, (await fx.WaitForRunEndAsync("bf-back", newest.RunId)).State);
        // The stop follows the run's durable cancel.
        for (var deadline = DateTime.UtcNow.AddSeconds(15); !fx.Backend.Stopped.Contains(job) && DateTime.UtcNow < deadline;)
        {
            await System.Threading.Tasks.Task.Delay(10);
        }
        Assert.Contains(job, fx.Backend.Stopped);
        var counted = await WaitAsync("bf-back", backfill.BackfillId, b => b.Running == 0);
        Assert.Equal((1, 1, BackfillState.Cancelled), (counted.Created, counted.Failed, counted.State));
        Assert.Single(await History.ListRunsAsync("bf-back", null, null, 100));
    }

    [Fact]
    public async Task Backfill_NeverHasMoreThanMaxActiveRunsUnfinished_AndADeactivationMidwayMakesNoDuplicate()
    {
        var dag = fx.Dag("bf-limit");
        await dag.ApplyAsync(Dag("bf-limit", Task("t", "hold")) with { Schedule = "0 0 * * *", MaxActiveRuns = 1 });
        // The DAG's own max_active_runs (1) does not hold back a backfill's runs: its own limit (2) does.
        var backfill = await dag.CreateBackfillAsync(new() { From = Day, To = Day.AddDays(4), MaxActiveRuns = 2 });
        var released = new HashSet<string>(StringComparer.Ordinal);
        var restarted = false;
        while ((await Backfill("bf-limit", backfill.BackfillId).GetAsync())!.State == BackfillState.Running)
        {
            var unfinished = (await History.ListRunsAsync("bf-limit", null, null, 100)).Where(r => !r.State.IsFinal()).ToList();
            Assert.True(unfinished.Count <= 2, $"{unfinished.Count} runs unfinished at once");
            foreach (var run in unfinished)
            {
                var details = await fx.WaitForRunAsync("bf-limit", run.RunId, r => r.Tasks.Single().Attempts is [{ JobId: not null }]);
                var jobId = details.Tasks.Single().Attempts[0].JobId!;
                if (released.Add(jobId))
                {
                    fx.Backend.Release(jobId, succeed: true);
                    await fx.WaitForRunEndAsync("bf-limit", run.RunId);
                }
            }
            if (!restarted && released.Count >= 2)
            {
                // A new activation goes on from its written progress.
                await Backfill("bf-limit", backfill.BackfillId).Cast<IGrainManagementExtension>().DeactivateOnIdle();
                restarted = true;
            }
            await System.Threading.Tasks.Task.Delay(10);
        }

        var done = (await Backfill("bf-limit", backfill.BackfillId).GetAsync())!;
        Assert.Equal((BackfillState.Succeeded, 5, 5, 0), (done.State, done.Created, done.Succeeded, done.Skipped));
        var runs = await History.ListRunsAsync("bf-limit", null, null, 100);
        Assert.Equal(5, runs.Length);
        Assert.Equal(5, runs.Select(r => r.LogicalDate).Distinct().Count());
        Assert.True(restarted);
    }

    [Fact]
    public async Task ManualTrigger_OnALogicalDateThatHasARun_IsRefused_AndTheScheduleSkipsASlotAManualRunTook()
    {
        var dag = fx.Dag("bf-manual");
        await dag.ApplyAsync(Dag("bf-manual", Task("t")) with { Schedule = "0 * * * *" });
        var next = (await dag.GetNextSlotsAsync(1))[0];
        var manual = await dag.TriggerAsync(new() { LogicalDate = next });
        await fx.WaitForRunEndAsync("bf-manual", manual.RunId);

        var refused = await Assert.ThrowsAsync<RunExistsException>(() => dag.TriggerAsync(new() { LogicalDate = next }));
        Assert.Equal(manual.RunId, refused.RunId);

        fx.Time.Advance(next - fx.Time.GetUtcNow() + TimeSpan.FromMinutes(1));
        Assert.Empty(await dag.EvaluateScheduleAsync());
        var backfill = await dag.CreateBackfillAsync(new() { From = next, To = next });
        Assert.Equal(1, (await WaitEndAsync("bf-manual", backfill.BackfillId)).Skipped);
        Assert.Equal([manual.RunId], (await History.ListRunsAsync("bf-manual", null, null, 100)).Select(r => r.RunId));
    }

    [Fact]
    public async Task CreateBackfill_OfTenThousandSlots_AnswersAtOnce_AndRefusesOneMore()
    {
        var dag = fx.Dag("bf-big");
        await dag.ApplyAsync(Dag("bf-big", Task("t")) with { Schedule = "* * * * *" });
        var big = await dag.CreateBackfillAsync(new() { From = Day, To = Day.AddMinutes(9_999), MaxActiveRuns = 1 });
        Assert.Equal((10_000, BackfillState.Running), (big.Total, big.State));
        Assert.Equal(BackfillState.Cancelled, (await Backfill("bf-big", big.BackfillId).CancelAsync()).State);

        var tooMany = await Assert.ThrowsAsync<ArgumentException>(() => dag.CreateBackfillAsync(new() { From = Day, To = Day.AddMinutes(10_000) }));
        Assert.Contains("more than 10000 slots", tooMany.Message, StringComparison.Ordinal);
    }

    /// <summary>Hourly DAG with a succeeded run at slot 0, a failed one (its first attempt fails) at slot 1, none at slot 2.</summary>
    private async Task<(ImmutableArray<DateTimeOffset> Slots, string OkRun, string FailedRun)> ThreeSlotsAsync(string dagId)
    {
        var dag = fx.Dag(dagId);
        await dag.ApplyAsync(Dag(dagId, Task("t")) with { Schedule = "0 * * * *" });
        var slots = await dag.GetNextSlotsAsync(3);
        fx.Time.Advance(slots[0] - fx.Time.GetUtcNow());
        // The schedule shard may have fired the slot already: evaluating again finds its run.
        await dag.EvaluateScheduleAsync();
        var okRun = Scheduled(slots[0]);
        Assert.Equal(RunState.Succeeded, (await fx.WaitForRunEndAsync(dagId, okRun)).State);
        await dag.ApplyAsync(Dag(dagId, Task("t", "fail-first 1")) with { Schedule = "0 * * * *" });
        fx.Time.Advance(slots[1] - fx.Time.GetUtcNow());
        await dag.EvaluateScheduleAsync();
        var failedRun = Scheduled(slots[1]);
        Assert.Equal(RunState.Failed, (await fx.WaitForRunEndAsync(dagId, failedRun)).State);
        await dag.ApplyAsync(Dag(dagId, Task("t")) with { Schedule = "0 * * * *" });
        await dag.SetPausedAsync(true);
        fx.Time.Advance(slots[2] - fx.Time.GetUtcNow() + TimeSpan.FromMinutes(1));
        return (slots, okRun, failedRun);
    }

    private static string Scheduled(DateTimeOffset slot) => "scheduled__" + slot.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture);

    private IBackfillGrain Backfill(string dagId, string backfillId) => fx.Grains.GetGrain<IBackfillGrain>(dagId + "/" + backfillId);

    private Task<BackfillInfo> WaitEndAsync(string dagId, string backfillId) => WaitAsync(dagId, backfillId, b => b.State != BackfillState.Running);

    private async Task<BackfillInfo> WaitAsync(string dagId, string backfillId, Func<BackfillInfo, bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        BackfillInfo? last = null;
        while (DateTime.UtcNow < deadline)
        {
            last = await Backfill(dagId, backfillId).GetAsync();
            if (last is not null && condition(last))
            {
                return last;
            }
            await System.Threading.Tasks.Task.Delay(10);
        }
        throw new TimeoutException($"backfill {dagId}/{backfillId} did not reach the expected state; last seen: {last}");
    }

    private static DateTimeOffset At(string text) => DateTimeOffset.Parse(text, System.Globalization.CultureInfo.InvariantCulture);
}
