using System.Text;
using Batchyard.Logs;
using Npgsql;

namespace Batchyard.Silo.Storage.Postgres;

/// <summary>
/// Attempt logs as ordered text chunks in <c>batchyard_task_logs</c>. The cursor is the number of UTF-16
/// characters read so far (the same as <see cref="IAttemptLog.GetLengthAsync"/>), so it stays valid across silos.
/// </summary>
public sealed class PostgresAttemptLogStore(NpgsqlDataSource dataSource) : IAttemptLogStore
{
    /// <inheritdoc />
    public Task<IAttemptLog> OpenAsync(string dagId, string runId, string taskId, int attempt, CancellationToken cancellationToken = default) =>
        // Nothing is read yet: most jobs' logs are appended to by one writer from the start, and a job that
        // never logs (or a noop) costs no round trip at all.
        Task.FromResult<IAttemptLog>(new PostgresAttemptLog(dataSource, dagId, runId, taskId, attempt));

    /// <inheritdoc />
    public async Task<LogPage> ReadAsync(string dagId, string runId, string taskId, int attempt, long cursor, int maxChars, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(cursor);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxChars);
        // Every chunk that overlaps [cursor, cursor + maxChars), found through the (attempt, end_offset) index.
        await using var command = dataSource.CreateCommand("""
            SELECT start_offset, text_chunk
            FROM batchyard_task_logs
            WHERE dag_id = $1 AND run_id = $2 AND task_id = $3 AND attempt = $4
              AND end_offset > $5 AND start_offset < $5 + $6
            ORDER BY end_offset
            """);
        AddKey(command.Parameters, dagId, runId, taskId, attempt);
        command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = cursor });
        command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = maxChars });

        var text = new StringBuilder();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false) && text.Length < maxChars)
        {
            var start = reader.GetInt64(0);
            var chunk = reader.GetString(1);
            var skip = (int)Math.Max(0, cursor + text.Length - start);
            text.Append(chunk, skip, Math.Min(chunk.Length - skip, maxChars - text.Length));
        }

        return new LogPage(text.ToString(), cursor + text.Length);
    }

    private static void AddKey(NpgsqlParameterCollection parameters, string dagId, string runId, string taskId, int attempt)
    {
        parameters.Add(new NpgsqlParameter<string> { TypedValue = dagId });
        parameters.Add(new NpgsqlParameter<string> { TypedValue = runId });
        parameters.Add(new NpgsqlParameter<string> { TypedValue = taskId });
        parameters.Add(new NpgsqlParameter<int> { TypedValue = attempt });
    }

    private sealed class PostgresAttemptLog(NpgsqlDataSource dataSource, string dagId, string runId, string taskId, int attempt)
        : IAttemptLog
    {
        // One writer per attempt is expected; the gate only keeps concurrent appends from one backend in order.
        private readonly SemaphoreSlim _gate = new(1, 1);
        private bool _loaded;
        private int _lastSeq;
        private long _length;

        public async ValueTask<long> GetLengthAsync(CancellationToken cancellationToken = default)
        {
            await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                await LoadAsync(cancellationToken).ConfigureAwait(false);
                return _length;
            }
            finally
            {
                _gate.Release();
            }
        }

        public async ValueTask AppendAsync(string text, CancellationToken cancellationToken = default)
        {
            if (string.IsNullOrEmpty(text))
            {
                return;
            }

            await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                await LoadAsync(cancellationToken).ConfigureAwait(false);
                await using var command = dataSource.CreateCommand("""
                    INSERT INTO batchyard_task_logs (dag_id, run_id, task_id, attempt, seq, start_offset, end_offset, text_chunk)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                    """);
                AddKey(command.Parameters, dagId, runId, taskId, attempt);
                command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = _lastSeq + 1 });
                command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = _length });
                command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = _length + text.Length });
                command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = text });
                await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                _lastSeq++;
                _length += text.Length;
            }
            finally
            {
                _gate.Release();
            }
        }

        /// <summary>The log's last chunk number and length, read once (a re-attached job's log may hold output already).</summary>
        private async Task LoadAsync(CancellationToken cancellationToken)
        {
            if (_loaded)
            {
                return;
            }
            await using var command = dataSource.CreateCommand("""
                SELECT COALESCE(MAX(seq), 0), COALESCE(MAX(end_offset), 0)
                FROM batchyard_task_logs
                WHERE dag_id = $1 AND run_id = $2 AND task_id = $3 AND attempt = $4
                """);
            AddKey(command.Parameters, dagId, runId, taskId, attempt);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            (_lastSeq, _length, _loaded) = (reader.GetInt32(0), reader.GetInt64(1), true);
        }
    }
}
