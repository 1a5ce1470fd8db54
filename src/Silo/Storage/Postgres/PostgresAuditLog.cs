using System.Collections.Immutable;
using Batchyard.History;
using Npgsql;
using NpgsqlTypes;

namespace Batchyard.Silo.Storage.Postgres;

/// <summary>
/// The audit log in <c>batchyard_audit</c> (migration 0004), read newest first. Entries are written in group
/// commits: each caller waits for the insert that holds its entry, and the entries that came meanwhile share
/// it, so a burst of 2,000 triggers is a few inserts, not 2,000 that take the pool's connections from the runs.
/// </summary>
public sealed class PostgresAuditLog(NpgsqlDataSource dataSource) : IAuditLog
{
    /// <summary>Entries written by one insert at most.</summary>
    private const int MaxBatch = 1000;

    private const string Insert = """
        INSERT INTO batchyard_audit (at, key_name, action, dag_id, run_id, task_id, outcome, status, detail)
        SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::integer[], $9::text[])
        """;

    private readonly Lock _gate = new();
    private List<Pending> _waiting = [];
    private bool _writing;

    /// <inheritdoc />
    public Task AppendAsync(AuditEntry entry, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(entry);
        var pending = new Pending(entry, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        bool start;
        lock (_gate)
        {
            _waiting.Add(pending);
            start = !_writing;
            _writing = true;
        }
        if (start)
        {
            _ = Task.Run(WriteAllAsync, CancellationToken.None);
        }
        return pending.Done.Task.WaitAsync(cancellationToken);
    }

    /// <summary>Writes what waits, batch after batch, until nothing does.</summary>
    private async Task WriteAllAsync()
    {
        while (true)
        {
            List<Pending> batch;
            lock (_gate)
            {
                if (_waiting.Count == 0)
                {
                    _writing = false;
                    return;
                }
                if (_waiting.Count <= MaxBatch)
                {
                    batch = _waiting;
                    _waiting = [];
                }
                else
                {
                    batch = _waiting.GetRange(0, MaxBatch);
                    _waiting.RemoveRange(0, MaxBatch);
                }
            }
            try
            {
                await WriteAsync(batch).ConfigureAwait(false);
                foreach (var pending in batch)
                {
                    pending.Done.TrySetResult();
                }
            }
            catch (Exception ex)
            {
                // Each caller hears of it (the audit trail reports it as a warning); the next batch tries again.
                foreach (var pending in batch)
                {
                    pending.Done.TrySetException(ex);
                }
            }
        }
    }

    private async Task WriteAsync(List<Pending> batch)
    {
        await using var command = dataSource.CreateCommand(Insert);
        command.Parameters.Add(new NpgsqlParameter<DateTime[]> { TypedValue = [.. batch.Select(p => p.Entry.At.UtcDateTime)], NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.TimestampTz });
        command.Parameters.Add(Texts(batch, e => e.KeyName));
        command.Parameters.Add(Texts(batch, e => e.Action));
        command.Parameters.Add(Texts(batch, e => e.DagId));
        command.Parameters.Add(Texts(batch, e => e.RunId));
        command.Parameters.Add(Texts(batch, e => e.TaskId));
        command.Parameters.Add(Texts(batch, e => e.Outcome));
        command.Parameters.Add(new NpgsqlParameter<int[]> { TypedValue = [.. batch.Select(p => p.Entry.Status)], NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Integer });
        command.Parameters.Add(Texts(batch, e => e.Detail));
        await command.ExecuteNonQueryAsync().ConfigureAwait(false);
    }

    private static NpgsqlParameter Texts(List<Pending> batch, Func<AuditEntry, string?> field) =>
        new() { Value = batch.Select(p => field(p.Entry)).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text };

    private sealed record Pending(AuditEntry Entry, TaskCompletionSource Done);

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
}
