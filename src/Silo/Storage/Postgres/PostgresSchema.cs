using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Batchyard.Silo.Storage.Postgres;

/// <summary>
/// Creates or upgrades Batchyard's PostgreSQL schema: numbered migration scripts embedded in this assembly,
/// each applied once in its own transaction and recorded in <c>batchyard_schema_version</c>.
/// </summary>
public sealed partial class PostgresSchema
{
    // Advisory locks are per database; every silo of one deployment takes this key, so only one migrates at a time.
    private const long MigrationLockKey = 0x4261_7463_6879_6172; // "Batchyar"
    private const string ResourcePrefix = "Batchyard.Postgres.Migrations.";

    private static readonly Lazy<IReadOnlyList<Migration>> AllMigrations = new(LoadMigrations);

    private PostgresSchema()
    {
    }

    /// <summary>The version the embedded scripts bring a database to.</summary>
    public static int LatestVersion => AllMigrations.Value[^1].Version;

    /// <summary>Applies every migration the database has not seen yet; safe to call from many silos at once.</summary>
    public static Task ApplyAsync(NpgsqlDataSource ds, ILogger logger, CancellationToken ct) =>
        ApplyAsync(ds, logger, int.MaxValue, ct);

    /// <summary>Applies migrations up to <paramref name="targetVersion"/> (tests use it to build an old schema).</summary>
    internal static async Task ApplyAsync(NpgsqlDataSource ds, ILogger logger, int targetVersion, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(ds);
        ArgumentNullException.ThrowIfNull(logger);
        var total = Stopwatch.StartNew();
        await using var connection = await ds.OpenConnectionAsync(ct).ConfigureAwait(false);

        // Session-level lock: held across the per-migration transactions and released in finally,
        // or by the server when the connection dies with this silo.
        await ExecuteAsync(connection, null, $"SELECT pg_advisory_lock({MigrationLockKey})", ct).ConfigureAwait(false);
        try
        {
            await ExecuteAsync(connection, null, """
                CREATE TABLE IF NOT EXISTS batchyard_schema_version
                (
                    version    integer     NOT NULL PRIMARY KEY,
                    name       text        NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now()
                )
                """, ct).ConfigureAwait(false);

            int current;
            await using (var read = new NpgsqlCommand("SELECT COALESCE(MAX(version), 0) FROM batchyard_schema_version", connection))
            {
                current = Convert.ToInt32(await read.ExecuteScalarAsync(ct).ConfigureAwait(false), CultureInfo.InvariantCulture);
            }

            var applied = 0;
            foreach (var migration in AllMigrations.Value)
            {
                if (migration.Version <= current || migration.Version > targetVersion)
                {
                    continue;
                }

                var watch = Stopwatch.StartNew();
                await using var transaction = await connection.BeginTransactionAsync(ct).ConfigureAwait(false);
                await ExecuteAsync(connection, transaction, migration.Sql, ct).ConfigureAwait(false);
                await using (var record = new NpgsqlCommand(
                    "INSERT INTO batchyard_schema_version (version, name) VALUES ($1, $2)", connection, transaction))
                {
                    record.Parameters.Add(new NpgsqlParameter<int> { TypedValue = migration.Version });
                    record.Parameters.Add(new NpgsqlParameter<string> { TypedValue = migration.Name });
                    await record.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                }

                await transaction.CommitAsync(ct).ConfigureAwait(false);
                applied++;
                LogMigrationApplied(logger, migration.Version, migration.Name, watch.ElapsedMilliseconds);
            }

            LogSchemaReady(logger, Math.Max(current, Math.Min(targetVersion, LatestVersion)), applied, total.ElapsedMilliseconds);
        }
        finally
        {
            // The connection goes back to the pool, so the session lock must be released explicitly.
            await ExecuteAsync(connection, null, $"SELECT pg_advisory_unlock({MigrationLockKey})", CancellationToken.None).ConfigureAwait(false);
        }
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, string sql, CancellationToken ct)
    {
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        // Waiting for another silo's migration can take longer than the default 30 s command timeout.
        command.CommandTimeout = 300;
        await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    private static IReadOnlyList<Migration> LoadMigrations()
    {
        var assembly = typeof(PostgresSchema).Assembly;
        var migrations = new List<Migration>();
        foreach (var resource in assembly.GetManifestResourceNames())
        {
            if (!resource.StartsWith(ResourcePrefix, StringComparison.Ordinal) || !resource.EndsWith(".sql", StringComparison.Ordinal))
            {
                continue;
            }

            var name = resource[ResourcePrefix.Length..^".sql".Length];
            var version = int.Parse(name.AsSpan(0, name.IndexOf('_', StringComparison.Ordinal)), CultureInfo.InvariantCulture);
            using var stream = assembly.GetManifestResourceStream(resource)
                ?? throw new InvalidOperationException($"Missing embedded migration {resource}.");
            using var reader = new StreamReader(stream);
            migrations.Add(new Migration(version, name, reader.ReadToEnd()));
        }

        migrations.Sort((a, b) => a.Version.CompareTo(b.Version));
        for (var i = 0; i < migrations.Count; i++)
        {
            if (migrations[i].Version != i + 1)
            {
                throw new InvalidOperationException($"Migrations must be numbered 1..n without gaps; found {migrations[i].Name}.");
            }
        }

        return migrations.Count > 0 ? migrations : throw new InvalidOperationException("No embedded migrations found.");
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "PostgreSQL schema migration {Version} ({Name}) applied in {ElapsedMs} ms")]
    private static partial void LogMigrationApplied(ILogger logger, int version, string name, long elapsedMs);

    [LoggerMessage(Level = LogLevel.Information, Message = "PostgreSQL schema at version {Version} ({Applied} migrations applied, {ElapsedMs} ms)")]
    private static partial void LogSchemaReady(ILogger logger, int version, int applied, long elapsedMs);

    private sealed record Migration(int Version, string Name, string Sql);
}
