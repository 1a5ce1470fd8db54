using Batchyard.Backends;
using Batchyard.Dags;
using Batchyard.Grains;
using Batchyard.Runs;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Orleans.TestingHost;

namespace Batchyard.Tests;

/// <summary>One in-process silo with memory storage and reminders, a fake clock and the scripted backend.</summary>
public sealed class ClusterFixture : IAsyncLifetime
{
    public FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 3, 1, 0, 0, 0, TimeSpan.Zero));

    public ScriptedBackend Backend { get; }

    public InProcessTestCluster Cluster { get; }

    public string LogsFolder { get; } = Path.Combine(Path.GetTempPath(), "batchyard-tests-" + Guid.NewGuid().ToString("N"));

    public ClusterFixture()
    {
        Backend = new ScriptedBackend(Time);
        var builder = new InProcessTestClusterBuilder(1);
        builder.ConfigureSiloHost((_, host) => host.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Batchyard:Pools:two-slots"] = "2",
            ["Batchyard:Quotas:ml.test.large"] = "3",
        }));
        builder.ConfigureSilo((_, silo) =>
        {
            silo.AddMemoryGrainStorage(StorageNames.Batchyard);
            silo.UseInMemoryReminderService();
            silo.AddIncomingGrainCallFilter<Batchyard.Tests.Runs.NotificationRecorder>();
            silo.Services.AddKeyedSingleton<TimeProvider>(BatchyardClock.Key, Time);
            silo.Services.AddSingleton<IJobBackend>(Backend);
            silo.Services.AddBatchyardGrains(LogsFolder);
        });
        Cluster = builder.Build();
    }

    public IGrainFactory Grains => Cluster.Client;

    public IServiceProvider SiloServices => Cluster.Silos[0].ServiceProvider;

    public async Task InitializeAsync() => await Cluster.DeployAsync();

    public async Task DisposeAsync()
    {
        await Cluster.DisposeAsync();
        if (Directory.Exists(LogsFolder))
        {
            Directory.Delete(LogsFolder, recursive: true);
        }
    }

    public IDagGrain Dag(string dagId) => Grains.GetGrain<IDagGrain>(dagId);

    public IDagRunGrain Run(string dagId, string runId) => Grains.GetGrain<IDagRunGrain>(RunKeys.Run(dagId, runId));

    /// <summary>Waits (bounded) until the run satisfies <paramref name="condition"/>; fails with the last state seen.</summary>
    public async Task<RunDetails> WaitForRunAsync(string dagId, string runId, Func<RunDetails, bool> condition, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(15));
        RunDetails? last = null;
        while (DateTime.UtcNow < deadline)
        {
            last = await Run(dagId, runId).GetAsync();
            if (last is not null && condition(last))
            {
                return last;
            }
            await Task.Delay(10);
        }
        throw new TimeoutException($"run {dagId}/{runId} did not reach the expected state; last seen: {Describe(last)}");
    }

    public Task<RunDetails> WaitForRunEndAsync(string dagId, string runId) => WaitForRunAsync(dagId, runId, r => r.State.IsFinal());

    public static string Describe(RunDetails? run) => run is null
        ? "(none)"
        : $"{run.State}: " + string.Join(", ", run.Tasks.Select(t => $"{t.TaskId}={t.State}/{t.Attempts.Length}"));
}

/// <summary>Builds DAG definitions in code for grain tests.</summary>
public static class TestDags
{
    public static DagDefinition Dag(string dagId, params TaskDefinition[] tasks) => new()
    {
        DagId = dagId,
        Tasks = [.. tasks],
        SourceFile = dagId + ".yaml",
        Version = "test",
    };

    public static TaskDefinition Task(string taskId, string script = "ok", params string[] upstream) => new()
    {
        TaskId = taskId,
        Backend = "test",
        Command = [.. script.Split(' ')],
        Upstream = [.. upstream],
        RetryDelay = TimeSpan.FromSeconds(10),
    };
}
