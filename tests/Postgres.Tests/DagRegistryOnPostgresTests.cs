using Batchyard.Dags;
using Batchyard.Grains;
using Batchyard.Silo.Storage.Postgres;
using Microsoft.Extensions.DependencyInjection;
using Orleans.TestingHost;

namespace Batchyard.Postgres.Tests;

/// <summary>
/// The DAG registry is reentrant and shares its writes between callers; the ADO.NET provider serializes the
/// state off the grain's scheduler, so every write must be of a copy the grain no longer changes.
/// </summary>
public sealed class DagRegistryOnPostgresTests(PostgresDatabase db) : IClassFixture<PostgresDatabase>, IAsyncLifetime
{
    private InProcessTestCluster? _cluster;

    /// <summary>One connection for the silo, which the test competes for: the provider then waits for it asynchronously.</summary>
    private string SiloConnectionString => new Npgsql.NpgsqlConnectionStringBuilder(db.ConnectionString) { MaxPoolSize = 2 }.ConnectionString;

    public async Task InitializeAsync()
    {
        await db.ApplySchemaAsync();
        var builder = new InProcessTestClusterBuilder(1);
        builder.ConfigureSilo((_, silo) =>
        {
            silo.UseBatchyardPostgres(SiloConnectionString, StorageNames.Batchyard);
            silo.Services.AddKeyedSingleton(BatchyardClock.Key, TimeProvider.System);
        });
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
    public async Task ThousandsOfDagsAddedAtOnce_AreAllWrittenWithoutAFailedWrite()
    {
        var registry = _cluster!.Client.GetGrain<IDagRegistryGrain>(0);
        var ids = Enumerable.Range(0, 6000).Select(i => $"dag-{i:00000}").ToList();

        // The same pool as the silo's, kept busy: each write's connection comes after a wait, and the state is
        // serialized when it comes, while the grain takes more ids.
        using var stop = new CancellationTokenSource();
        var contenders = Enumerable.Range(0, 2).Select(_ => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                await using var connection = new Npgsql.NpgsqlConnection(SiloConnectionString);
                await connection.OpenAsync();
                await Task.Delay(2);
            }
        })).ToList();

        // Every call returns once a write that includes its id has completed; none may fail.
        try
        {
            foreach (var wave in ids.Chunk(200))
            {
                await Task.WhenAll(wave.Select(id => registry.UpsertAsync(new DagSummary { DagId = id, Loaded = true })));
            }
        }
        finally
        {
            await stop.CancelAsync();
            await Task.WhenAll(contenders);
        }

        var persisted = await db.ScalarAsync<long>("SELECT count(*) FROM OrleansStorage WHERE GrainTypeString = 'registry'");
        Assert.Equal(1L, persisted);
        Assert.Equal(ids, await registry.ListAsync());
    }
}
