using System.Diagnostics;
using System.Threading.Channels;
using Batchyard.History;
using Batchyard.Telemetry;
using Npgsql;
using NpgsqlTypes;

namespace Batchyard.Silo.Storage.Postgres;

/// <summary>
/// How the silo writes its run journal (<c>Batchyard:Journal</c>): appends from every grain of the silo are
/// grouped into one multi-row insert per commit; <see cref="Writers"/> commits may be in flight at once.
/// </summary>
public sealed record JournalOptions
{
    /// <summary>Commits in flight at once (each holds one connection while it writes).</summary>
    public int Writers { get; init; } = 2;

    /// <summary>At most this many events in one commit.</summary>
    public int MaxBatchEvents { get; init; } = 4000;

    /// <summary>How long a writer waits for more appends before it commits a batch that is not full.</summary>
    public TimeSpan Linger { get; init; } = TimeSpan.FromMilliseconds(1);

    /// <summary>Appends waiting to be written before appenders are made to wait (backpressure).</summary>
    public int QueueCapacity { get; init; } = 20_000;

    /// <summary>The longest pause between two tries of a batch that failed.</summary>
    public TimeSpan MaxRetryDelay { get; init; } = TimeSpan.FromSeconds(5);
}

/// <summary>
/// The run journal in PostgreSQL (<c>batchyard_journal</c>) with its run projection (<c>batchyard_runs</c>),
/// written in the same commit. A write that fails (the server stalls, restarts, the pool is exhausted) is
/// retried with backoff for as long as it takes: appenders wait, nothing fails and nothing is lost, and a
/// retried batch whose first commit did land inserts nothing twice (the key is run and sequence).
/// </summary>
public sealed partial class PostgresRunJournal : IRunJournal, IAsyncDisposable
{
    private const string InsertEvents = """
        INSERT INTO batchyard_journal (dag_id, run_id, seq, kind, at, task_id, payload)
        SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::timestamptz[], $6::text[], $7::jsonb[])
        ON CONFLICT DO NOTHING
        """;

    private const string InsertRuns = """
        INSERT INTO batchyard_runs (dag_id, run_id, state, logical_date, run_type, dag_version, queued_at, params, updated_at)
        SELECT u.dag_id, u.run_id, 'queued', u.logical_date, u.run_type, u.dag_version, u.queued_at, u.params, now()
        FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[], $5::text[], $6::timestamptz[], $7::jsonb[])
            AS u(dag_id, run_id, logical_date, run_type, dag_version, queued_at, params)
        ON CONFLICT (dag_id, run_id) DO NOTHING
        """;

    private const string UpdateRuns = """
        UPDATE batchyard_runs r SET state = u.state, started_at = u.started_at, ended_at = u.ended_at, updated_at = now()
        FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[]) AS u(dag_id, run_id, state, started_at, ended_at)
        WHERE r.dag_id = u.dag_id AND r.run_id = u.run_id
        """;

    private const string MarkRunsLate = """
        UPDATE batchyard_runs r SET late = true, updated_at = now()
        FROM unnest($1::text[], $2::text[]) AS u(dag_id, run_id)
        WHERE r.dag_id = u.dag_id AND r.run_id = u.run_id
        """;

    private const string UpsertCosts = """
        INSERT INTO batchyard_attempt_costs (dag_id, run_id, task_key, attempt, ended_at, instance_type, usd, compute_seconds)
        SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::integer[], $5::timestamptz[], $6::text[], $7::numeric[], $8::double precision[])
        ON CONFLICT (dag_id, run_id, task_key, attempt) DO UPDATE
            SET ended_at = EXCLUDED.ended_at, instance_type = EXCLUDED.instance_type, usd = EXCLUDED.usd, compute_seconds = EXCLUDED.compute_seconds
        """;

    // The run's total is summed again from its cost rows, so a retried batch cannot count an attempt twice.
    private const string UpdateRunCosts = """
        UPDATE batchyard_runs r SET cost_usd = s.usd
        FROM (SELECT c.dag_id, c.run_id, sum(c.usd) AS usd
              FROM batchyard_attempt_costs c
              JOIN unnest($1::text[], $2::text[]) AS u(dag_id, run_id) ON c.dag_id = u.dag_id AND c.run_id = u.run_id
              GROUP BY c.dag_id, c.run_id) s
        WHERE r.dag_id = s.dag_id AND r.run_id = s.run_id
        """;

    private readonly NpgsqlDataSource _dataSource;
    private readonly JournalOptions _options;
    private readonly ILogger _logger;
    private readonly BatchyardMetrics? _metrics;
    private readonly Channel<Pending> _queue;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task[] _writers;
    private long _failures;

    public PostgresRunJournal(NpgsqlDataSource dataSource, JournalOptions options, ILogger<PostgresRunJournal> logger, BatchyardMetrics? metrics = null)
    {
        (_dataSource, _options, _logger, _metrics) = (dataSource, options, logger, metrics);
        _queue = Channel.CreateBounded<Pending>(new BoundedChannelOptions(options.QueueCapacity) { FullMode = BoundedChannelFullMode.Wait });
        _writers = [.. Enumerable.Range(0, Math.Max(1, options.Writers)).Select(_ => Task.Run(WriteLoopAsync))];
    }

    /// <summary>Commits written so far (for benchmarks and health).</summary>
    public long Commits => Interlocked.Read(ref _commits);

    private long _commits;

    /// <inheritdoc />
    public async Task AppendAsync(IReadOnlyList<RunEvent> events, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(events);
        if (events.Count == 0)
        {
            return;
        }
        var pending = new Pending(events, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        await _queue.Writer.WriteAsync(pending, cancellationToken).ConfigureAwait(false);
        await pending.Done.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<RunEvent>> ReadAsync(string dagId, string runId, CancellationToken cancellationToken = default)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await using var command = _dataSource.CreateCommand(
                    "SELECT seq, kind, at, task_id, payload::text FROM batchyard_journal WHERE dag_id = $1 AND run_id = $2 ORDER BY seq");
                command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = dagId });
                command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = runId });
                var events = new List<RunEvent>();
                await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
                while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    events.Add(new RunEvent
                    {
                        DagId = dagId,
                        RunId = runId,
                        Seq = reader.GetInt64(0),
                        Kind = reader.GetString(1),
                        At = reader.GetFieldValue<DateTimeOffset>(2),
                        TaskId = reader.IsDBNull(3) ? null : reader.GetString(3),
                        Payload = reader.GetString(4),
                    });
                }
                return events;
            }
            catch (Exception ex) when (attempt < 4 && IsStorageFault(ex) && !cancellationToken.IsCancellationRequested)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(200 * attempt), cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <inheritdoc />
    public async Task<long> LastSeqAsync(string dagId, string runId, CancellationToken cancellationToken = default)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                // The primary key (dag_id, run_id, seq) answers this from its last index entry.
                await using var command = _dataSource.CreateCommand(
                    "SELECT coalesce(max(seq), 0) FROM batchyard_journal WHERE dag_id = $1 AND run_id = $2");
                command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = dagId });
                command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = runId });
                return (long)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
            }
            catch (Exception ex) when (attempt < 4 && IsStorageFault(ex) && !cancellationToken.IsCancellationRequested)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(200 * attempt), cancellationToken).ConfigureAwait(false);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        try
        {
            // What is queued is written if the server answers soon; otherwise it is dropped with the process,
            // as undurable events always may be (nothing acted on them).
            await Task.WhenAll(_writers).WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            await _stop.CancelAsync().ConfigureAwait(false);
        }
        _stop.Dispose();
    }

    private async Task WriteLoopAsync()
    {
        var batch = new List<Pending>();
        var reader = _queue.Reader;
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            batch.Clear();
            var events = 0;
            var lingerUntil = Stopwatch.GetTimestamp() + (long)(_options.Linger.TotalSeconds * Stopwatch.Frequency);
            while (events < _options.MaxBatchEvents)
            {
                if (reader.TryRead(out var next))
                {
                    batch.Add(next);
                    events += next.Events.Count;
                    continue;
                }
                var left = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), lingerUntil);
                if (left <= TimeSpan.Zero)
                {
                    break;
                }
                // A short wait lets the appends of the same moment share this commit.
                using var linger = new CancellationTokenSource(left);
                try
                {
                    if (!await reader.WaitToReadAsync(linger.Token).ConfigureAwait(false))
                    {
                        break;
                    }
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
            if (batch.Count > 0)
            {
                await WriteWithRetryAsync(batch).ConfigureAwait(false);
            }
        }
    }

    private async Task WriteWithRetryAsync(List<Pending> batch)
    {
        var delay = TimeSpan.FromMilliseconds(100);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                var started = Stopwatch.GetTimestamp();
                await WriteAsync(batch, _stop.Token).ConfigureAwait(false);
                _metrics?.JournalCommitted("postgres", batch.Sum(p => p.Events.Count), Stopwatch.GetElapsedTime(started));
                Interlocked.Increment(ref _commits);
                if (attempt > 1)
                {
                    LogRecovered(_logger, attempt);
                }
                foreach (var pending in batch)
                {
                    pending.Done.TrySetResult();
                }
                return;
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
                foreach (var pending in batch)
                {
                    pending.Done.TrySetCanceled();
                }
                return;
            }
            catch (Exception ex)
            {
                // Whatever went wrong, the batch waits and is tried again: a storage fault never fails a task.
                if (Interlocked.Increment(ref _failures) % 20 == 1 || attempt == 1)
                {
                    LogWriteFailed(_logger, batch.Sum(p => p.Events.Count), attempt, delay, ex.Message);
                }
                await Task.Delay(delay).ConfigureAwait(false);
                delay = TimeSpan.FromTicks(Math.Min(_options.MaxRetryDelay.Ticks, delay.Ticks * 2));
            }
        }
    }

    private async Task WriteAsync(List<Pending> batch, CancellationToken cancellationToken)
    {
        var count = batch.Sum(p => p.Events.Count);
        var dagIds = new string[count];
        var runIds = new string[count];
        var seqs = new long[count];
        var kinds = new string[count];
        var ats = new DateTime[count];
        var taskIds = new string?[count];
        var payloads = new string[count];
        var created = new List<(RunEvent Event, RunCreatedFact Fact)>();
        var states = new Dictionary<(string, string), (long Seq, RunStateFact Fact)>();
        // One row per attempt: an upsert may not touch the same row twice in one statement.
        var costs = new Dictionary<(string, string, string, int), CostEntry>();
        var late = new HashSet<(string DagId, string RunId)>();
        var i = 0;
        foreach (var e in batch.SelectMany(p => p.Events))
        {
            (dagIds[i], runIds[i], seqs[i], kinds[i], ats[i], taskIds[i], payloads[i]) =
                (e.DagId, e.RunId, e.Seq, e.Kind, e.At.UtcDateTime, e.TaskId, e.Payload);
            i++;
            switch (e.Kind)
            {
                case RunEventKinds.RunCreated:
                    created.Add((e, RunFactJson.Read<RunCreatedFact>(e.Payload)));
                    break;
                case RunEventKinds.RunState when !states.TryGetValue((e.DagId, e.RunId), out var known) || known.Seq < e.Seq:
                    states[(e.DagId, e.RunId)] = (e.Seq, RunFactJson.Read<RunStateFact>(e.Payload));
                    break;
                case RunEventKinds.Late when e.TaskId is null:
                    late.Add((e.DagId, e.RunId));
                    break;
                case RunEventKinds.Task when CostProjection.From(e) is { } cost:
                    costs[(cost.DagId, cost.RunId, cost.TaskKey, cost.Attempt)] = cost;
                    break;
            }
        }

        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var sql = new NpgsqlBatch(connection);
        var insert = new NpgsqlBatchCommand(InsertEvents);
        insert.Parameters.Add(TextArray(dagIds));
        insert.Parameters.Add(TextArray(runIds));
        insert.Parameters.Add(new NpgsqlParameter { Value = seqs, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Bigint });
        insert.Parameters.Add(TextArray(kinds));
        insert.Parameters.Add(TimeArray(ats));
        insert.Parameters.Add(TextArray(taskIds));
        insert.Parameters.Add(new NpgsqlParameter { Value = payloads, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Jsonb });
        sql.BatchCommands.Add(insert);
        if (created.Count > 0)
        {
            var runs = new NpgsqlBatchCommand(InsertRuns);
            runs.Parameters.Add(TextArray([.. created.Select(c => c.Event.DagId)]));
            runs.Parameters.Add(TextArray([.. created.Select(c => c.Event.RunId)]));
            runs.Parameters.Add(TimeArray([.. created.Select(c => c.Fact.LogicalDate.UtcDateTime)]));
            runs.Parameters.Add(TextArray([.. created.Select(c => c.Fact.RunType)]));
            runs.Parameters.Add(TextArray([.. created.Select(c => c.Fact.DagVersion)]));
            runs.Parameters.Add(TimeArray([.. created.Select(c => c.Fact.QueuedAt.UtcDateTime)]));
            runs.Parameters.Add(new NpgsqlParameter { Value = created.Select(c => RunFactJson.Write(c.Fact.Params)).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Jsonb });
            sql.BatchCommands.Add(runs);
        }
        if (states.Count > 0)
        {
            var update = new NpgsqlBatchCommand(UpdateRuns);
            var rows = states.ToList();
            update.Parameters.Add(TextArray([.. rows.Select(r => r.Key.Item1)]));
            update.Parameters.Add(TextArray([.. rows.Select(r => r.Key.Item2)]));
            update.Parameters.Add(TextArray([.. rows.Select(r => JournalJson.StateName(r.Value.Fact.State))]));
            update.Parameters.Add(NullableTimeArray([.. rows.Select(r => r.Value.Fact.StartedAt)]));
            update.Parameters.Add(NullableTimeArray([.. rows.Select(r => r.Value.Fact.EndedAt)]));
            sql.BatchCommands.Add(update);
        }
        if (late.Count > 0)
        {
            var mark = new NpgsqlBatchCommand(MarkRunsLate);
            mark.Parameters.Add(TextArray([.. late.Select(r => r.DagId)]));
            mark.Parameters.Add(TextArray([.. late.Select(r => r.RunId)]));
            sql.BatchCommands.Add(mark);
        }
        if (costs.Count > 0)
        {
            var rows = costs.Values.ToList();
            var upsert = new NpgsqlBatchCommand(UpsertCosts);
            upsert.Parameters.Add(TextArray([.. rows.Select(c => c.DagId)]));
            upsert.Parameters.Add(TextArray([.. rows.Select(c => c.RunId)]));
            upsert.Parameters.Add(TextArray([.. rows.Select(c => c.TaskKey)]));
            upsert.Parameters.Add(new NpgsqlParameter { Value = rows.Select(c => c.Attempt).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Integer });
            upsert.Parameters.Add(TimeArray([.. rows.Select(c => c.EndedAt.UtcDateTime)]));
            upsert.Parameters.Add(TextArray([.. rows.Select(c => c.InstanceType)]));
            upsert.Parameters.Add(new NpgsqlParameter { Value = rows.Select(c => c.Usd).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Numeric });
            upsert.Parameters.Add(new NpgsqlParameter { Value = rows.Select(c => c.ComputeSeconds).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Double });
            sql.BatchCommands.Add(upsert);
            var runs = rows.Select(c => (c.DagId, c.RunId)).Distinct().ToList();
            var totals = new NpgsqlBatchCommand(UpdateRunCosts);
            totals.Parameters.Add(TextArray([.. runs.Select(r => r.DagId)]));
            totals.Parameters.Add(TextArray([.. runs.Select(r => r.RunId)]));
            sql.BatchCommands.Add(totals);
        }
        // One batch without an explicit transaction runs as one implicit transaction: one commit.
        await sql.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Faults of the storage itself (as opposed to a bug): worth a retry.</summary>
    internal static bool IsStorageFault(Exception ex) => ex is NpgsqlException or TimeoutException or System.IO.IOException or System.Net.Sockets.SocketException;

    private static NpgsqlParameter TextArray(string?[] values) => new() { Value = values, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text };

    private static NpgsqlParameter TimeArray(DateTime[] values) => new() { Value = values, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.TimestampTz };

    private static NpgsqlParameter NullableTimeArray(DateTimeOffset?[] values) =>
        new() { Value = values.Select(v => v?.UtcDateTime).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.TimestampTz };

    private sealed record Pending(IReadOnlyList<RunEvent> Events, TaskCompletionSource Done);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Journal: writing {Count} event(s) failed (try {Attempt}), trying again in {Delay}: {Error}")]
    private static partial void LogWriteFailed(ILogger logger, int count, int attempt, TimeSpan delay, string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "Journal: written again after {Attempt} tries")]
    private static partial void LogRecovered(ILogger logger, int attempt);
}
