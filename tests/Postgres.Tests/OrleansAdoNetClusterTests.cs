using System.Reflection;
using Batchyard.Silo.Storage.Postgres;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Configuration;
using Orleans.TestingHost;

namespace Batchyard.Postgres.Tests;

public interface ICounterGrain : IGrainWithStringKey
{
    Task<int> IncrementAsync();

    Task<int> GetAsync();

    Task RegisterReminderAsync(string name);
}

[GenerateSerializer]
public sealed class CounterState
{
    [Id(0)] public int Value { get; set; }
}

public sealed class CounterGrain([PersistentState("counter", "Batchyard")] IPersistentState<CounterState> counter)
    : Grain, ICounterGrain, IRemindable
{
    public async Task<int> IncrementAsync()
    {
        counter.State.Value++;
        await counter.WriteStateAsync();
        return counter.State.Value;
    }

    public Task<int> GetAsync() => Task.FromResult(counter.State.Value);

    public Task RegisterReminderAsync(string name) =>
        this.RegisterOrUpdateReminder(name, TimeSpan.FromHours(1), TimeSpan.FromSeconds(5));

    public Task ReceiveReminder(string reminderName, TickStatus status) => Task.CompletedTask;
}

/// <summary>Two silos clustered, storing grain state and reminders through Orleans' ADO.NET providers and this schema.</summary>
public sealed class OrleansAdoNetClusterTests(PostgresDatabase db) : IClassFixture<PostgresDatabase>, IAsyncLifetime
{
    private InProcessTestCluster? _cluster;

    private InProcessTestCluster Cluster => _cluster ?? throw new InvalidOperationException("not started");

    public async Task InitializeAsync()
    {
        await db.ApplySchemaAsync();
        var connectionString = db.ConnectionString;
        var builder = new InProcessTestClusterBuilder(2);
        // 10.4.2 keeps this switch internal; without it the test cluster's in-memory membership table would
        // replace the ADO.NET one, and this test would not exercise the schema at all.
        typeof(InProcessTestClusterOptions)
            .GetProperty("UseTestClusterMembership", BindingFlags.Instance | BindingFlags.NonPublic)!
            .SetValue(builder.Options, false);
        builder.ConfigureSilo((_, silo) =>
        {
            silo.UseBatchyardPostgres(connectionString, "Batchyard");
            // The reminder service refuses periods under a minute unless told otherwise.
            silo.Services.Configure<ReminderOptions>(o => o.MinimumReminderPeriod = TimeSpan.FromSeconds(1));
        });
        builder.ConfigureClient(client => client.UseBatchyardPostgres(connectionString));
        _cluster = builder.Build();
        await _cluster.DeployAsync();
    }

    public async Task DisposeAsync()
    {
        if (_cluster is not null)
        {
            await _cluster.StopAllSilosAsync();
            await _cluster.DisposeAsync();
        }
    }

    [Fact]
    public async Task TwoSilos_JoinThroughTheMembershipTable()
    {
        Assert.Equal(2, Cluster.Silos.Count);
        Assert.Equal(2L, await db.ScalarAsync<long>(
            $"SELECT count(*) FROM OrleansMembershipTable WHERE DeploymentId = '{Cluster.Options.ClusterId}' AND Status = 3"));
        Assert.True(await db.ScalarAsync<int>(
            $"SELECT Version FROM OrleansMembershipVersionTable WHERE DeploymentId = '{Cluster.Options.ClusterId}'") >= 2);
    }

    [Fact]
    public async Task PersistentState_SurvivesDeactivation()
    {
        var grain = Cluster.Client.GetGrain<ICounterGrain>("persisted");
        Assert.Equal(1, await grain.IncrementAsync());
        Assert.Equal(2, await grain.IncrementAsync());

        await Cluster.DeactivateAsync(grain);

        Assert.Equal(2, await grain.GetAsync());
        Assert.Equal(3, await grain.IncrementAsync());
        Assert.Equal(1L, await db.ScalarAsync<long>("SELECT count(*) FROM OrleansStorage WHERE PayloadBinary IS NOT NULL"));
    }

    [Fact]
    public async Task Reminder_IsStoredInTheReminderTableAndReadable()
    {
        var grain = Cluster.Client.GetGrain<ICounterGrain>("reminded");
        await grain.RegisterReminderAsync("nightly");

        var table = Cluster.Silos[0].ServiceProvider.GetRequiredService<IReminderTable>();
        var rows = await table.ReadRows(grain.GetGrainId());

        var entry = Assert.Single(rows.Reminders);
        Assert.Equal("nightly", entry.ReminderName);
        Assert.Equal(TimeSpan.FromSeconds(5), entry.Period);
        Assert.Equal(1L, await db.ScalarAsync<long>("SELECT count(*) FROM OrleansRemindersTable WHERE ReminderName = 'nightly' AND Period = 5000"));

        var ranged = await table.ReadRows(0, 0);
        Assert.Contains(ranged.Reminders, r => r.ReminderName == "nightly");
    }
}
