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

    /// <summary>Runs of a DAG, newest logical date first, optionally only in <paramref name="state"/> and before <paramref name="before"/> (exclusive, by logical date).</summary>
    Task<ImmutableArray<RunSummary>> ListRunsAsync(string dagId, RunState? state, DateTimeOffset? before, int limit, CancellationToken cancellationToken = default);

    /// <summary>Every run of any DAG whose journal says it is running (what a failover resumes).</summary>
    Task<ImmutableArray<RunSummary>> ListRunningAsync(CancellationToken cancellationToken = default);
}
