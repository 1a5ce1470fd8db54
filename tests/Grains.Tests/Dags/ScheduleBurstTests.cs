using Batchyard.Backends;
using Batchyard.Dags;
using Batchyard.Grains;
using Batchyard.Runs;
using Batchyard.Scheduling;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Orleans.TestingHost;

namespace Batchyard.Tests.Dags;

/// <summary>
/// A burst of due slots waits its turn in the schedule shard: no more DAGs evaluate at once than
/// <c>Batchyard:Scheduling:FiresInFlight</c> allows per shard, and every slot still fires once.
/// </summary>
public sealed class ScheduleBurstTests : IAsyncLifetime
{
    private const int Dags = 300;
    private const int FiresInFlight = 3;
    private static readonly DateTimeOffset T0 = new(2026, 3, 1, 0, 0, 0, TimeSpan.Zero);

    private readonly FakeTimeProvider _time = new(T0.AddSeconds(10));
    private readonly ScriptedBackend _backend;
    private readonly EvaluationCounter _counter = new();
    private readonly string _logs = Path.Combine(Path.GetTempPath(), "batchyard-burst-" + Guid.NewGuid().ToString("N"));
    private readonly InProcessTestCluster _cluster;

    public ScheduleBurstTests()
    {
        _backend = new ScriptedBackend(_time);
        var builder = new InProcessTestClusterBuilder(1);
        builder.ConfigureSilo((_, silo) =>
        {
            silo.AddMemoryGrainStorage(StorageNames.Batchyard);
            silo.UseInMemoryReminderService();
            silo.Services.AddKeyedSingleton<TimeProvider>(BatchyardClock.Key, _time);
            silo.Services.AddSingleton<IJobBackend>(_backend);
            silo.Services.AddSingleton(Options.Create(new SchedulingOptions { Shards = 1, FiresInFlight = FiresInFlight }));
            silo.Services.AddBatchyardGrains(_logs);
            silo.AddIncomingGrainCallFilter(_counter.InvokeAsync);
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

    [Fact]
    public async Task EveryDagDueAtOnce_EvaluatesAFewAtATime_AndFiresEachSlotOnce()
    {
        await ApplyEveryMinuteDagsAsync("b");

        _time.Advance(TimeSpan.FromMinutes(1));
        await WaitAsync(() => Task.FromResult(_backend.Submitted.Count >= Dags), $"{Dags} runs of 00:01");
        await Task.Delay(TimeSpan.FromSeconds(1));

        Assert.Equal(Dags, _counter.Calls);
        Assert.InRange(_counter.MaxAtOnce, 1, FiresInFlight);
        Assert.Equal(Dags, _backend.Submitted.Count);
        Assert.Equal(Dags, _backend.Submitted.Distinct(StringComparer.Ordinal).Count());
    }

    [Fact]
    public async Task WhileTheSiloLoadsItsFolder_RunsAreMadeOneAtATimePerShard_AndAllOnceItEnds()
    {
        var load = _cluster.Silos[0].ServiceProvider.GetRequiredService<FolderLoad>();
        var loading = load.Begin();
        await ApplyEveryMinuteDagsAsync("l");

        _time.Advance(TimeSpan.FromMinutes(1));
        await WaitAsync(() => Task.FromResult(_counter.Calls >= 50), "50 evaluations during the load");
        Assert.Equal(1, _counter.MaxAtOnce);

        loading.Dispose();
        Assert.False(load.Loading);
        await WaitAsync(() => Task.FromResult(_backend.Submitted.Count >= Dags), $"{Dags} runs of 00:01");
        await Task.Delay(TimeSpan.FromSeconds(1));
        Assert.Equal(Dags, _counter.Calls);
        Assert.InRange(_counter.MaxAtOnce, 1, FiresInFlight);
        Assert.Equal(Dags, _backend.Submitted.Distinct(StringComparer.Ordinal).Count());
    }

    /// <summary>Applies <see cref="Dags"/> every-minute DAGs named <paramref name="prefix"/>000… and waits until the shard follows them all.</summary>
    private async Task ApplyEveryMinuteDagsAsync(string prefix)
    {
        var grains = _cluster.Client;
        await Task.WhenAll(Enumerable.Range(0, Dags).Select(i => grains.GetGrain<IDagGrain>($"{prefix}{i:000}").ApplyAsync(
            TestDags.Dag($"{prefix}{i:000}", TestDags.Task("t")) with { Schedule = "* * * * *" })));
        var shard = grains.GetGrain<IScheduleShardGrain>(0);
        await WaitAsync(async () => await shard.CountAsync() == Dags, "every DAG followed by the shard");
    }

    private static async Task WaitAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(1);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"not reached in time: {what}");
            }
            await Task.Delay(20);
        }
    }

    /// <summary>Counts the DAG evaluations under way at once, as the silo receives them.</summary>
    private sealed class EvaluationCounter
    {
        private int _now;
        private int _max;
        private int _calls;

        public int MaxAtOnce => Volatile.Read(ref _max);

        public int Calls => Volatile.Read(ref _calls);

        public async Task InvokeAsync(IIncomingGrainCallContext context)
        {
            if (context.InterfaceMethod.Name != nameof(IDagGrain.EvaluateScheduleAsync))
            {
                await context.Invoke();
                return;
            }
            Interlocked.Increment(ref _calls);
            var now = Interlocked.Increment(ref _now);
            int seen;
            while (now > (seen = Volatile.Read(ref _max)) && Interlocked.CompareExchange(ref _max, now, seen) != seen)
            {
            }
            try
            {
                await context.Invoke();
            }
            finally
            {
                Interlocked.Decrement(ref _now);
            }
        }
    }
}
