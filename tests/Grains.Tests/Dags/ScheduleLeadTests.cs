using Batchyard.Backends;
using Batchyard.Dags;
using Batchyard.Grains;
using Batchyard.Runs;
using Batchyard.Scheduling;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Orleans.Core.Internal;
using Orleans.TestingHost;

namespace Batchyard.Tests.Dags;

/// <summary>
/// A cron slot's run is made <c>Batchyard:Scheduling:Lead</c> ahead of its instant, waits queued and admitted,
/// and begins at the instant itself; a pause or a delete before the slot withdraws it.
/// </summary>
public sealed class ScheduleLeadTests : IAsyncLifetime
{
    private static readonly DateTimeOffset T0 = new(2026, 3, 1, 0, 0, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset Slot = T0.AddMinutes(1);
    private const string SlotRun = "scheduled__2026-03-01T00:01:00Z";

    private readonly FakeTimeProvider _time = new(T0.AddSeconds(10));
    private readonly ScriptedBackend _backend;
    private readonly string _logs = Path.Combine(Path.GetTempPath(), "batchyard-lead-" + Guid.NewGuid().ToString("N"));
    private readonly InProcessTestCluster _cluster;

    public ScheduleLeadTests()
    {
        _backend = new ScriptedBackend(_time);
        var builder = new InProcessTestClusterBuilder(1);
        builder.ConfigureSilo((_, silo) =>
        {
            silo.AddMemoryGrainStorage(StorageNames.Batchyard);
            silo.UseInMemoryReminderService();
            silo.Services.AddKeyedSingleton<TimeProvider>(BatchyardClock.Key, _time);
            silo.Services.AddSingleton<IJobBackend>(_backend);
            silo.Services.AddSingleton(Options.Create(new SchedulingOptions { Shards = 1, Lead = TimeSpan.FromSeconds(30) }));
            silo.Services.AddBatchyardGrains(_logs);
        });
        _cluster = builder.Build();
    }

    public Task InitializeAsync() => _cluster.DeployAsync();

    public async Task DisposeAsync()
    {
        await _cluster.DisposeAsync();
        if (Directory.Exists(_logs))
        {
            Directory.Delete(_logs, recursive: true);
        }
    }

    private IClusterClient Grains => _cluster.Client;

    private async Task<IDagGrain> ApplyAsync(string dagId)
    {
        var dag = Grains.GetGrain<IDagGrain>(dagId);
        await dag.ApplyAsync(TestDags.Dag(dagId, TestDags.Task("t")) with { Schedule = "* * * * *" });
        await WaitAsync(async () => await Grains.GetGrain<IScheduleShardGrain>(0).CountAsync() >= 1, "the DAG followed by its shard");
        return dag;
    }

    private IDagRunGrain Run(string dagId) => Grains.GetGrain<IDagRunGrain>(RunKeys.Run(dagId, SlotRun));

    [Fact]
    public async Task TheSlotsRun_IsMadeWithinTheLead_AndBeginsAtTheSlotItself()
    {
        var dag = await ApplyAsync("lead");

        // 00:00:20: 40 s before the slot, outside the lead: nothing yet.
        _time.Advance(TimeSpan.FromSeconds(10));
        await Task.Delay(300);
        Assert.Null(await Run("lead").GetAsync());

        // 00:00:40: within the lead, the run is made, admitted and waits for 00:01.
        _time.Advance(TimeSpan.FromSeconds(20));
        await WaitAsync(async () => await Run("lead").GetAsync() is not null, "the slot's run made ahead");
        var made = (await Run("lead").GetAsync())!;
        Assert.Equal(RunState.Queued, made.State);
        Assert.Equal(Slot, made.LogicalDate);
        Assert.Equal(Slot, made.QueuedAt);
        Assert.Null(made.StartedAt);
        Assert.Equal(1, (await dag.GetAsync())!.ActiveRuns);
        await Task.Delay(300);
        Assert.Empty(_backend.Submitted);

        // 00:01:00: begun at the instant, by the run's own timer.
        _time.Advance(Slot - _time.GetUtcNow());
        await WaitAsync(async () => (await Run("lead").GetAsync())!.StartedAt is not null, "the run begun at its slot");
        Assert.Equal(Slot, (await Run("lead").GetAsync())!.StartedAt);
        await WaitAsync(() => Task.FromResult(_backend.Submitted.Count == 1), "its task submitted");

        // The next slot is made ahead in its turn, once, and not before 00:01:30.
        _time.Advance(TimeSpan.FromSeconds(20));
        await Task.Delay(300);
        Assert.Null(await Grains.GetGrain<IDagRunGrain>(RunKeys.Run("lead", "scheduled__2026-03-01T00:02:00Z")).GetAsync());
        _time.Advance(TimeSpan.FromSeconds(15));
        await WaitAsync(async () => await Grains.GetGrain<IDagRunGrain>(RunKeys.Run("lead", "scheduled__2026-03-01T00:02:00Z")).GetAsync() is not null, "the 00:02 run made ahead");
        Assert.Single(_backend.Submitted);
    }

    [Fact]
    public async Task APauseBeforeTheSlot_WithdrawsTheRunMadeAhead()
    {
        var dag = await ApplyAsync("lead-pause");
        _time.Advance(TimeSpan.FromSeconds(30));
        await WaitAsync(async () => await Run("lead-pause").GetAsync() is not null, "the slot's run made ahead");

        await dag.SetPausedAsync(true);

        Assert.Equal(RunState.Cancelled, (await Run("lead-pause").GetAsync())!.State);
        _time.Advance(TimeSpan.FromSeconds(30));
        await Task.Delay(500);
        Assert.Empty(_backend.Submitted);
        Assert.Null((await Run("lead-pause").GetAsync())!.StartedAt);
        await WaitAsync(async () => (await dag.GetAsync())!.ActiveRuns == 0, "the withdrawn run no longer active");
    }

    [Fact]
    public async Task ARunMadeAhead_ThatLostItsActivation_StillBeginsAtItsSlot()
    {
        await ApplyAsync("lead-crash");
        _time.Advance(TimeSpan.FromSeconds(30));
        await WaitAsync(async () => await Run("lead-crash").GetAsync() is not null, "the slot's run made ahead");

        await Run("lead-crash").Cast<IGrainManagementExtension>().DeactivateOnIdle();
        await Task.Delay(300);
        // Activated again (by its wake reminder after a crash; here by a read), it arms its slot from its state.
        Assert.Equal(RunState.Queued, (await Run("lead-crash").GetAsync())!.State);

        _time.Advance(Slot - _time.GetUtcNow());
        await WaitAsync(async () => (await Run("lead-crash").GetAsync())!.StartedAt is not null, "the run begun at its slot");
        Assert.Equal(Slot, (await Run("lead-crash").GetAsync())!.StartedAt);
        await WaitAsync(() => Task.FromResult(_backend.Submitted.Count == 1), "its task submitted once");
        await Task.Delay(300);
        Assert.Single(_backend.Submitted);
    }

    private static async Task WaitAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out waiting for " + what);
            await Task.Delay(50);
        }
    }
}
