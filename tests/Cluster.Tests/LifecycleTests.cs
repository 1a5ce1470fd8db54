using System.Diagnostics;
using System.Text.RegularExpressions;
using Batchyard.Silo.Storage.Postgres;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using Xunit.Abstractions;

namespace Batchyard.Cluster.Tests;

/// <summary>A silo's start and stop against PostgreSQL: the schema at start, and leaving the cluster on SIGTERM.</summary>
public sealed partial class LifecycleTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const int Dead = 6;
    private readonly SiloSet _silos = new("lifecycle");

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync() => _silos.DisposeAsync().AsTask();

    [Fact]
    public async Task Sigterm_SiloLeavesTheClusterAtOnce_AndARestartReappliesTheSchemaAsANoop()
    {
        var server = await TestPostgres.SharedAsync();
        var connectionString = await server.CreateDatabaseAsync();
        var settings = SiloProcess.Settings(connectionString, _silos.Folder);

        var first = _silos.Start("first", settings);
        await first.WaitReadyAsync(TimeSpan.FromSeconds(180));
        var applied = SchemaReady().Match(first.Output);
        Assert.True(applied.Success, "the silo logs the schema it applied");
        Assert.Equal(PostgresSchema.LatestVersion.ToString(System.Globalization.CultureInfo.InvariantCulture), applied.Groups["applied"].Value);
        output.WriteLine($"FIGURE schema applied by a starting silo on an empty database: {applied.Groups["ms"].Value} ms");

        var watch = Stopwatch.StartNew();
        first.Terminate();
        Assert.Equal(0, await first.WaitExitAsync(TimeSpan.FromSeconds(30)));
        output.WriteLine($"SIGTERM -> exit: {watch.ElapsedMilliseconds} ms");
        // Left the cluster on its way out: the membership table already says dead, no one had to vote.
        Assert.Equal([Dead], await StatusesAsync(connectionString, first.SiloPort));

        var second = _silos.Start("second", settings);
        await second.WaitReadyAsync(TimeSpan.FromSeconds(180));
        var again = SchemaReady().Match(second.Output);
        Assert.True(again.Success, "the restarted silo logs the schema check");
        Assert.Equal("0", again.Groups["applied"].Value);
        Assert.Equal(PostgresSchema.LatestVersion, await ScalarAsync<long>(connectionString, "SELECT COUNT(*) FROM batchyard_schema_version"));
    }

    [Fact]
    public async Task ApplyAsync_OnAnEmptyDatabase_CreatesTheSchema()
    {
        var server = await TestPostgres.SharedAsync();
        var connectionString = await server.CreateDatabaseAsync();
        await using var dataSource = NpgsqlDataSource.Create(connectionString);
        var watch = Stopwatch.StartNew();
        await PostgresSchema.ApplyAsync(dataSource, NullLogger.Instance, CancellationToken.None);
        output.WriteLine($"FIGURE PostgresSchema.ApplyAsync on an empty database: {watch.ElapsedMilliseconds} ms");
        Assert.Equal(PostgresSchema.LatestVersion, await ScalarAsync<int>(connectionString, "SELECT MAX(version) FROM batchyard_schema_version"));
    }

    private static async Task<List<int>> StatusesAsync(string connectionString, int port)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT status FROM orleansmembershiptable WHERE port = $1", connection);
        command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = port });
        await using var reader = await command.ExecuteReaderAsync();
        var statuses = new List<int>();
        while (await reader.ReadAsync())
        {
            statuses.Add(reader.GetInt32(0));
        }
        return statuses;
    }

    private static async Task<T> ScalarAsync<T>(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return (T)(await command.ExecuteScalarAsync())!;
    }

    [GeneratedRegex(@"PostgreSQL schema at version \d+ \((?<applied>\d+) migrations applied, (?<ms>\d+) ms\)")]
    private static partial Regex SchemaReady();
}
