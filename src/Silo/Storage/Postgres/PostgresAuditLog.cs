using System.Collections.Immutable;
using Batchyard.History;
using Npgsql;
using NpgsqlTypes;

namespace Batchyard.Silo.Storage.Postgres;

/// <summary>The audit log in <c>batchyard_audit</c> (migration 0004): one insert per action, read newest first.</summary>
public sealed class PostgresAuditLog(NpgsqlDataSource dataSource) : IAuditLog
{
    /// <inheritdoc />
    public async Task AppendAsync(AuditEntry entry, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(entry);
        await using var command = dataSource.CreateCommand("""
            INSERT INTO batchyard_audit (at, key_name, action, dag_id, run_id, task_id, outcome, status, detail)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
            """);
        command.Parameters.Add(new NpgsqlParameter<DateTimeOffset> { TypedValue = entry.At.ToUniversalTime(), NpgsqlDbType = NpgsqlDbType.TimestampTz });
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = entry.KeyName });
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = entry.Action });
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = entry.DagId });
        command.Parameters.Add(Nullable(entry.RunId));
        command.Parameters.Add(Nullable(entry.TaskId));
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = entry.Outcome });
        command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = entry.Status });
        command.Parameters.Add(Nullable(entry.Detail));
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<ImmutableArray<AuditEntry>> ListAsync(int limit, DateTimeOffset? before, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(limit);
        const string Columns = "id, at, key_name, action, dag_id, run_id, task_id, outcome, status, detail";
        await using var command = dataSource.CreateCommand();
        if (before is { } cutoff)
        {
            command.CommandText = $"SELECT {Columns} FROM batchyard_audit WHERE at < $1 ORDER BY at DESC, id DESC LIMIT $2";
            command.Parameters.Add(new NpgsqlParameter<DateTimeOffset> { TypedValue = cutoff.ToUniversalTime(), NpgsqlDbType = NpgsqlDbType.TimestampTz });
        }
        else
        {
            command.CommandText = $"SELECT {Columns} FROM batchyard_audit ORDER BY at DESC, id DESC LIMIT $1";
        }
        command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = limit });

        var entries = ImmutableArray.CreateBuilder<AuditEntry>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            entries.Add(new AuditEntry
            {
                Id = reader.GetInt64(0),
                At = reader.GetFieldValue<DateTimeOffset>(1),
                KeyName = reader.GetString(2),
                Action = reader.GetString(3),
                DagId = reader.GetString(4),
                RunId = reader.IsDBNull(5) ? null : reader.GetString(5),
                TaskId = reader.IsDBNull(6) ? null : reader.GetString(6),
                Outcome = reader.GetString(7),
                Status = reader.GetInt32(8),
                Detail = reader.IsDBNull(9) ? null : reader.GetString(9),
            });
        }
        return entries.ToImmutable();
    }

    private static NpgsqlParameter Nullable(string? value) =>
        new() { Value = (object?)value ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text };
}
