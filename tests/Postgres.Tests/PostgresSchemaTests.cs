using System.Diagnostics;
using Batchyard.Silo.Storage.Postgres;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit.Abstractions;

namespace Batchyard.Postgres.Tests;

public sealed class PostgresSchemaTests(PostgresDatabase db, ITestOutputHelper output) : IClassFixture<PostgresDatabase>
{
    // Every key the 10.4.2 providers read from OrleansQuery (taken from the provider assemblies).
    private static readonly string[] ProviderQueryKeys =
    [
        "GatewaysQueryKey", "MembershipReadRowKey", "MembershipReadAllKey", "InsertMembershipVersionKey",
        "UpdateIAmAlivetimeKey", "InsertMembershipKey", "UpdateMembershipKey", "DeleteMembershipTableEntriesKey",
        "CleanupDefunctSiloEntriesKey", "CleanupDefunctSiloEntryKey",
        "ReadReminderRowsKey", "ReadRangeRows1Key", "ReadRangeRows2Key", "ReadReminderRowKey",
        "UpsertReminderRowKey", "DeleteReminderRowKey", "DeleteReminderRowsKey",
        "ReadFromStorageKey", "WriteToStorageKey", "ClearStorageKey", "DeleteStorageKey",
    ];

    [Fact]
    public async Task ApplyAsync_Twice_RecordsEachMigrationOnceAndKeepsData()
    {
        var watch = Stopwatch.StartNew();
        await db.ApplySchemaAsync();
        output.WriteLine($"schema applied to an empty database in {watch.ElapsedMilliseconds} ms");
        await using (var insert = db.DataSource.CreateCommand("INSERT INTO OrleansQuery (QueryKey, QueryText) VALUES ('BatchyardProbe', 'SELECT 1')"))
        {
            await insert.ExecuteNonQueryAsync();
        }

        await db.ApplySchemaAsync();

        Assert.Equal((long)PostgresSchema.LatestVersion, await db.ScalarAsync<long>("SELECT count(*) FROM batchyard_schema_version"));
        Assert.Equal(1L, await db.ScalarAsync<long>("SELECT count(*) FROM OrleansQuery WHERE QueryKey = 'BatchyardProbe'"));
    }

    [Fact]
    public async Task ApplyAsync_FourSilosAtOnce_AllSucceedUnderTheAdvisoryLock()
    {
        await using var other = new PostgresDatabase();
        await other.InitializeAsync();

        await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(() =>
            PostgresSchema.ApplyAsync(other.DataSource, NullLogger.Instance, CancellationToken.None))));

        Assert.Equal(
            Enumerable.Range(1, PostgresSchema.LatestVersion).Select(v => (long)v).Sum(),
            await other.ScalarAsync<long>("SELECT sum(version) FROM batchyard_schema_version"));
        Assert.Equal((long)PostgresSchema.LatestVersion, await other.ScalarAsync<long>("SELECT count(*) FROM batchyard_schema_version"));
    }

    [Fact]
    public async Task ApplyAsync_OnVersionOne_UpgradesInPlaceKeepingOrleansRows()
    {
        await using var old = new PostgresDatabase();
        await old.InitializeAsync();
        await PostgresSchema.ApplyAsync(old.DataSource, NullLogger.Instance, 1, CancellationToken.None);
        Assert.Equal(1, await old.ScalarAsync<int>("SELECT max(version) FROM batchyard_schema_version"));
        Assert.False(await old.ScalarAsync<bool>("SELECT to_regclass('batchyard_runs') IS NOT NULL"));
        await using (var insert = old.DataSource.CreateCommand(
            "INSERT INTO OrleansMembershipVersionTable (DeploymentId, Version) VALUES ('kept', 7)"))
        {
            await insert.ExecuteNonQueryAsync();
        }

        await PostgresSchema.ApplyAsync(old.DataSource, NullLogger.Instance, CancellationToken.None);

        Assert.Equal(PostgresSchema.LatestVersion, await old.ScalarAsync<int>("SELECT max(version) FROM batchyard_schema_version"));
        Assert.True(await old.ScalarAsync<bool>("SELECT to_regclass('batchyard_runs') IS NOT NULL"));
        Assert.Equal(7, await old.ScalarAsync<int>("SELECT Version FROM OrleansMembershipVersionTable WHERE DeploymentId = 'kept'"));
    }

    [Fact]
    public async Task ApplyAsync_InstallsEveryQueryKeyTheProvidersRead()
    {
        await db.ApplySchemaAsync();

        var keys = new List<string>();
        await using (var command = db.DataSource.CreateCommand("SELECT QueryKey FROM OrleansQuery"))
        await using (var reader = await command.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                keys.Add(reader.GetString(0));
            }
        }

        Assert.Empty(ProviderQueryKeys.Except(keys));
    }
}
