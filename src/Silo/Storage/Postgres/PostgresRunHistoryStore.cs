using System.Collections.Immutable;
using System.Text;
using Batchyard.History;
using Batchyard.Runs;
using Npgsql;
using NpgsqlTypes;

namespace Batchyard.Silo.Storage.Postgres;

/// <summary>
/// Run history in PostgreSQL, read from the journal's projections: <c>batchyard_runs</c> (one row per run,
/// maintained in the journal's own commits) for lists, and a run's journal folded for its details.
/// </summary>
public sealed class PostgresRunHistoryStore(NpgsqlDataSource dataSource, IRunJournal journal) : IRunHistoryStore
{
    private const string RunColumns = "dag_id, run_id, state, logical_date, queued_at, started_at, ended_at, run_type, cost_usd, late";

    /// <inheritdoc />
    public Task<RunDetails?> GetRunAsync(string dagId, string runId, CancellationToken cancellationToken = default) =>
        _details.GetAsync(journal, dagId, runId, cancellationToken);

    private readonly RunDetailsCache _details = new();

    /// <inheritdoc />
    public async Task<ImmutableArray<RunSummary>> ListRunsAsync(string dagId, RunState? state, DateTimeOffset? before, int limit, RunPosition? after = null, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(limit);
        // The predicate is built per call rather than with "$n IS NULL OR ...", so that the planner can use
        // (dag_id, logical_date) or (dag_id, state, logical_date) as an ordered range scan with LIMIT.
        var sql = new StringBuilder($"SELECT {RunColumns} FROM batchyard_runs WHERE dag_id = $1");
        await using var command = dataSource.CreateCommand();
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = dagId });
        if (state is { } wanted)
        {
            command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = JournalJson.StateName(wanted) });
            sql.Append(" AND state = $").Append(command.Parameters.Count);
        }

        if (before is { } cutoff)
        {
            command.Parameters.Add(new NpgsqlParameter<DateTimeOffset> { TypedValue = cutoff.ToUniversalTime(), NpgsqlDbType = NpgsqlDbType.TimestampTz });
            sql.Append(" AND logical_date < $").Append(command.Parameters.Count);
        }

        if (after is { } position)
        {
            // A row comparison, the same order as ORDER BY: the range scan starts where the last page ended.
            command.Parameters.Add(new NpgsqlParameter<DateTimeOffset> { TypedValue = position.LogicalDate.ToUniversalTime(), NpgsqlDbType = NpgsqlDbType.TimestampTz });
            command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = position.RunId });
            sql.Append(" AND (logical_date, run_id) < ($").Append(command.Parameters.Count - 1).Append(", $").Append(command.Parameters.Count).Append(')');
        }

        command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = limit });
        sql.Append(" ORDER BY logical_date DESC, run_id DESC LIMIT $").Append(command.Parameters.Count);
        command.CommandText = sql.ToString();
        return await ReadSummariesAsync(command, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<ImmutableArray<RunSummary>> ListRunningAsync(CancellationToken cancellationToken = default)
    {
        await using var command = dataSource.CreateCommand($"SELECT {RunColumns} FROM batchyard_runs WHERE state = 'running'");
        return await ReadSummariesAsync(command, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<ImmutableArray<CostCell>> SumCostsAsync(DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken = default)
    {
        await using var command = dataSource.CreateCommand("""
            SELECT dag_id, instance_type, (ended_at AT TIME ZONE 'UTC')::date AS day,
                   coalesce(sum(usd), 0), sum(compute_seconds), count(*)::integer, (count(*) FILTER (WHERE usd IS NULL))::integer
            FROM batchyard_attempt_costs
            WHERE ended_at >= $1 AND ended_at < $2
            GROUP BY 1, 2, 3
            """);
        command.Parameters.Add(new NpgsqlParameter<DateTimeOffset> { TypedValue = from.ToUniversalTime(), NpgsqlDbType = NpgsqlDbType.TimestampTz });
        command.Parameters.Add(new NpgsqlParameter<DateTimeOffset> { TypedValue = to.ToUniversalTime(), NpgsqlDbType = NpgsqlDbType.TimestampTz });
        var cells = ImmutableArray.CreateBuilder<CostCell>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            cells.Add(new CostCell(reader.GetString(0), reader.GetString(1), reader.GetFieldValue<DateOnly>(2),
                reader.GetDecimal(3), reader.GetDouble(4), reader.GetInt32(5), reader.GetInt32(6)));
        }
        return cells.ToImmutable();
    }

    /// <inheritdoc />
    public async Task<decimal> SumDagCostAsync(string dagId, DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken = default)
    {
        // The primary key leads with dag_id: one DAG's rows, then the range.
        await using var command = dataSource.CreateCommand(
            "SELECT coalesce(sum(usd), 0) FROM batchyard_attempt_costs WHERE dag_id = $1 AND ended_at >= $2 AND ended_at < $3");
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = dagId });
        command.Parameters.Add(new NpgsqlParameter<DateTimeOffset> { TypedValue = from.ToUniversalTime(), NpgsqlDbType = NpgsqlDbType.TimestampTz });
        command.Parameters.Add(new NpgsqlParameter<DateTimeOffset> { TypedValue = to.ToUniversalTime(), NpgsqlDbType = NpgsqlDbType.TimestampTz });
        return (decimal)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
    }

    private static async Task<ImmutableArray<RunSummary>> ReadSummariesAsync(NpgsqlCommand command, CancellationToken cancellationToken)
    {
        var runs = ImmutableArray.CreateBuilder<RunSummary>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            runs.Add(new RunSummary
            {
                DagId = reader.GetString(0),
                RunId = reader.GetString(1),
                State = JournalJson.ParseState<RunState>(reader.GetString(2)),
                LogicalDate = reader.GetFieldValue<DateTimeOffset>(3),
                QueuedAt = reader.GetFieldValue<DateTimeOffset>(4),
                StartedAt = reader.IsDBNull(5) ? null : reader.GetFieldValue<DateTimeOffset>(5),
                EndedAt = reader.IsDBNull(6) ? null : reader.GetFieldValue<DateTimeOffset>(6),
                RunType = reader.GetString(7),
                CostUsd = reader.IsDBNull(8) ? null : reader.GetDecimal(8),
                Late = reader.GetBoolean(9),
            });
        }
        return runs.ToImmutable();
    }
}
