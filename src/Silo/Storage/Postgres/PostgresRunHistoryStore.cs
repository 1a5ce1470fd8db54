using System.Collections.Immutable;
using System.Text;
using System.Text.Json;
using Batchyard.History;
using Batchyard.Runs;
using Npgsql;
using NpgsqlTypes;

namespace Batchyard.Silo.Storage.Postgres;

/// <summary>
/// Run history in PostgreSQL: one row per run (with its latest full snapshot), one per task attempt, and an
/// append-only event for every run or task state change.
/// </summary>
public sealed class PostgresRunHistoryStore(NpgsqlDataSource dataSource, TimeProvider timeProvider) : IRunHistoryStore
{
    private const string RunColumns = "dag_id, run_id, state, logical_date, queued_at, started_at, ended_at, run_type";

    public PostgresRunHistoryStore(NpgsqlDataSource dataSource)
        : this(dataSource, TimeProvider.System)
    {
    }

    /// <inheritdoc />
    public async Task SaveRunAsync(RunDetails run, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(run);
        var now = timeProvider.GetUtcNow();
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);

        // Writers of one run are serialized so that the previous snapshot read below is exactly the one this
        // write replaces; otherwise two racing saves could both miss (or both record) a transition.
        await using (var lockRun = new NpgsqlCommand("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", connection, transaction))
        {
            lockRun.Parameters.Add(new NpgsqlParameter<string> { TypedValue = run.DagId + "\n" + run.RunId });
            await lockRun.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        var previous = await ReadSnapshotAsync(connection, transaction, run.DagId, run.RunId, cancellationToken).ConfigureAwait(false);

        await using var batch = new NpgsqlBatch(connection, transaction);
        batch.BatchCommands.Add(UpsertRun(run, now));
        foreach (var task in run.Tasks)
        {
            foreach (var attempt in task.Attempts)
            {
                batch.BatchCommands.Add(UpsertAttempt(run, task, attempt));
            }
        }

        var previousRunState = previous is null ? null : HistoryJson.StateName(previous.State);
        var runState = HistoryJson.StateName(run.State);
        if (previousRunState != runState)
        {
            batch.BatchCommands.Add(StateChange(run, null, previousRunState, runState, now));
        }

        var previousTasks = previous?.Tasks.ToDictionary(t => t.TaskId, t => t.State) ?? [];
        foreach (var task in run.Tasks)
        {
            var known = previousTasks.TryGetValue(task.TaskId, out var before);
            // A task that appears as pending has not changed state yet; every other appearance or change is an event.
            if ((known && before != task.State) || (!known && task.State != TaskState.Pending))
            {
                batch.BatchCommands.Add(StateChange(run, task.TaskId, known ? HistoryJson.StateName(before) : null, HistoryJson.StateName(task.State), now));
            }
        }

        await batch.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<RunDetails?> GetRunAsync(string dagId, string runId, CancellationToken cancellationToken = default)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        return await ReadSnapshotAsync(connection, null, dagId, runId, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<ImmutableArray<RunSummary>> ListRunsAsync(string dagId, RunState? state, DateTimeOffset? before, int limit, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(limit);
        // The predicate is built per call rather than with "$n IS NULL OR ...", so that the planner can use
        // (dag_id, logical_date) or (dag_id, state, logical_date) as an ordered range scan with LIMIT.
        var sql = new StringBuilder($"SELECT {RunColumns} FROM batchyard_runs WHERE dag_id = $1");
        await using var command = dataSource.CreateCommand();
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = dagId });
        if (state is { } wanted)
        {
            command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = HistoryJson.StateName(wanted) });
            sql.Append(" AND state = $").Append(command.Parameters.Count);
        }

        if (before is { } cutoff)
        {
            command.Parameters.Add(new NpgsqlParameter<DateTimeOffset> { TypedValue = cutoff.ToUniversalTime(), NpgsqlDbType = NpgsqlDbType.TimestampTz });
            sql.Append(" AND logical_date < $").Append(command.Parameters.Count);
        }

        command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = limit });
        sql.Append(" ORDER BY logical_date DESC, run_id DESC LIMIT $").Append(command.Parameters.Count);
        command.CommandText = sql.ToString();

        var runs = ImmutableArray.CreateBuilder<RunSummary>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            runs.Add(new RunSummary
            {
                DagId = reader.GetString(0),
                RunId = reader.GetString(1),
                State = HistoryJson.ParseState<RunState>(reader.GetString(2)),
                LogicalDate = reader.GetFieldValue<DateTimeOffset>(3),
                QueuedAt = reader.GetFieldValue<DateTimeOffset>(4),
                StartedAt = reader.IsDBNull(5) ? null : reader.GetFieldValue<DateTimeOffset>(5),
                EndedAt = reader.IsDBNull(6) ? null : reader.GetFieldValue<DateTimeOffset>(6),
                RunType = reader.GetString(7),
            });
        }

        return runs.ToImmutable();
    }

    private static async Task<RunDetails?> ReadSnapshotAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, string dagId, string runId, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand("SELECT snapshot::text FROM batchyard_runs WHERE dag_id = $1 AND run_id = $2", connection, transaction);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = dagId });
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = runId });
        var json = await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) as string;
        return json is null ? null : JsonSerializer.Deserialize<RunDetails>(json, HistoryJson.Options);
    }

    private static NpgsqlBatchCommand UpsertRun(RunDetails run, DateTimeOffset now)
    {
        var command = new NpgsqlBatchCommand("""
            INSERT INTO batchyard_runs
                (dag_id, run_id, state, logical_date, run_type, dag_version, queued_at, started_at, ended_at, params, snapshot, updated_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
            ON CONFLICT (dag_id, run_id) DO UPDATE SET
                state = EXCLUDED.state, logical_date = EXCLUDED.logical_date, run_type = EXCLUDED.run_type,
                dag_version = EXCLUDED.dag_version, queued_at = EXCLUDED.queued_at, started_at = EXCLUDED.started_at,
                ended_at = EXCLUDED.ended_at, params = EXCLUDED.params, snapshot = EXCLUDED.snapshot,
                updated_at = EXCLUDED.updated_at
            """);
        command.Parameters.Add(Text(run.DagId));
        command.Parameters.Add(Text(run.RunId));
        command.Parameters.Add(Text(HistoryJson.StateName(run.State)));
        command.Parameters.Add(Time(run.LogicalDate));
        command.Parameters.Add(Text(run.RunType));
        command.Parameters.Add(Text(run.DagVersion));
        command.Parameters.Add(Time(run.QueuedAt));
        command.Parameters.Add(Time(run.StartedAt));
        command.Parameters.Add(Time(run.EndedAt));
        command.Parameters.Add(Json(JsonSerializer.Serialize(run.Params, HistoryJson.Options)));
        command.Parameters.Add(Json(JsonSerializer.Serialize(run, HistoryJson.Options)));
        command.Parameters.Add(Time(now));
        return command;
    }

    private static NpgsqlBatchCommand UpsertAttempt(RunDetails run, TaskInstanceDetails task, AttemptDetails attempt)
    {
        var command = new NpgsqlBatchCommand("""
            INSERT INTO batchyard_task_attempts
                (dag_id, run_id, task_id, attempt, state, backend, job_id, queued_at, started_at, ended_at, exit_code, reason, details)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
            ON CONFLICT (dag_id, run_id, task_id, attempt) DO UPDATE SET
                state = EXCLUDED.state, backend = EXCLUDED.backend, job_id = EXCLUDED.job_id,
                queued_at = EXCLUDED.queued_at, started_at = EXCLUDED.started_at, ended_at = EXCLUDED.ended_at,
                exit_code = EXCLUDED.exit_code, reason = EXCLUDED.reason, details = EXCLUDED.details
            """);
        command.Parameters.Add(Text(run.DagId));
        command.Parameters.Add(Text(run.RunId));
        command.Parameters.Add(Text(task.TaskId));
        command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = attempt.Attempt });
        command.Parameters.Add(Text(HistoryJson.StateName(attempt.State)));
        command.Parameters.Add(Text(string.IsNullOrEmpty(attempt.Backend) ? task.Backend : attempt.Backend));
        command.Parameters.Add(Text(attempt.JobId));
        command.Parameters.Add(Time(attempt.QueuedAt));
        command.Parameters.Add(Time(attempt.StartedAt));
        command.Parameters.Add(Time(attempt.EndedAt));
        command.Parameters.Add(new NpgsqlParameter { Value = (object?)attempt.ExitCode ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Integer });
        command.Parameters.Add(Text(attempt.Reason));
        command.Parameters.Add(Json(JsonSerializer.Serialize(attempt.Details, HistoryJson.Options)));
        return command;
    }

    private static NpgsqlBatchCommand StateChange(RunDetails run, string? taskId, string? from, string to, DateTimeOffset at)
    {
        var command = new NpgsqlBatchCommand(
            "INSERT INTO batchyard_state_changes (dag_id, run_id, task_id, from_state, to_state, at) VALUES ($1, $2, $3, $4, $5, $6)");
        command.Parameters.Add(Text(run.DagId));
        command.Parameters.Add(Text(run.RunId));
        command.Parameters.Add(Text(taskId));
        command.Parameters.Add(Text(from));
        command.Parameters.Add(Text(to));
        command.Parameters.Add(Time(at));
        return command;
    }

    private static NpgsqlParameter Text(string? value) =>
        new() { Value = (object?)value ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text };

    private static NpgsqlParameter Json(string value) => new() { Value = value, NpgsqlDbType = NpgsqlDbType.Jsonb };

    private static NpgsqlParameter Time(DateTimeOffset? value) =>
        new() { Value = value is { } v ? v.ToUniversalTime() : DBNull.Value, NpgsqlDbType = NpgsqlDbType.TimestampTz };
}
