using System.Collections.Immutable;
using Batchyard.Runs;

namespace Batchyard.History;

/// <summary>
/// Run history that outgrows grain state: every run's latest snapshot, queried by the API and dashboard.
/// The run grain writes through it on every change; reads never activate grains.
/// </summary>
public interface IRunHistoryStore
{
    /// <summary>Inserts or replaces the snapshot of one run (keyed by dag id and run id).</summary>
    Task SaveRunAsync(RunDetails run, CancellationToken cancellationToken = default);

    /// <summary>One run's last saved snapshot, or null.</summary>
    Task<RunDetails?> GetRunAsync(string dagId, string runId, CancellationToken cancellationToken = default);

    /// <summary>Runs of a DAG, newest logical date first, optionally only in <paramref name="state"/> and before <paramref name="before"/> (exclusive, by logical date).</summary>
    Task<ImmutableArray<RunSummary>> ListRunsAsync(string dagId, RunState? state, DateTimeOffset? before, int limit, CancellationToken cancellationToken = default);
}
