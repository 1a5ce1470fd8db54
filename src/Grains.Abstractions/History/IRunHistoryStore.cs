using System.Collections.Immutable;
using Batchyard.Runs;

namespace Batchyard.History;

/// <summary>
/// Run history as projections of the run journal (<see cref="IRunJournal"/>), queried by the API, the
/// dashboard and the failover resumer. Reads never activate grains.
/// </summary>
public interface IRunHistoryStore
{
    /// <summary>One run rebuilt from its journal, or null when it has none.</summary>
    Task<RunDetails?> GetRunAsync(string dagId, string runId, CancellationToken cancellationToken = default);

    /// <summary>
    /// Runs of a DAG, newest logical date first (run id, descending, breaking ties), optionally only in
    /// <paramref name="state"/>, before <paramref name="before"/> (exclusive, by logical date) and after
    /// <paramref name="after"/> in that order (where a previous page ended).
    /// </summary>
    Task<ImmutableArray<RunSummary>> ListRunsAsync(string dagId, RunState? state, DateTimeOffset? before, int limit, RunPosition? after = null, CancellationToken cancellationToken = default);

    /// <summary>Every run of any DAG whose journal says it is running (what a failover resumes).</summary>
    Task<ImmutableArray<RunSummary>> ListRunningAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// The costs of the attempts that ended in [<paramref name="from"/>, <paramref name="to"/>), summed by DAG,
    /// instance type and UTC day, from the cost projection (no journal is read).
    /// </summary>
    Task<ImmutableArray<CostCell>> SumCostsAsync(DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken = default);

    /// <summary>The priced cost of one DAG's attempts that ended in [<paramref name="from"/>, <paramref name="to"/>) (what a budget checks).</summary>
    Task<decimal> SumDagCostAsync(string dagId, DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken = default);
}

/// <summary>A run's place in a DAG's newest-first list: its logical date, then its id.</summary>
public sealed record RunPosition(DateTimeOffset LogicalDate, string RunId)
{
    public static RunPosition Of(RunSummary run)
    {
        ArgumentNullException.ThrowIfNull(run);
        return new RunPosition(run.LogicalDate, run.RunId);
    }

    /// <summary>True when <paramref name="run"/> comes after this position (older, or as old with a smaller id).</summary>
    public bool Precedes(RunSummary run)
    {
        ArgumentNullException.ThrowIfNull(run);
        return run.LogicalDate < LogicalDate || (run.LogicalDate == LogicalDate && string.CompareOrdinal(run.RunId, RunId) < 0);
    }
}
