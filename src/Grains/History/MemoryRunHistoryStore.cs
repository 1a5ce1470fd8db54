using System.Collections.Immutable;
using Batchyard.Runs;

namespace Batchyard.History;

/// <summary>
/// Run history kept in this process (the embedded, single-silo default): nothing survives a restart.
/// Thread-safe; snapshots are immutable records, so they are stored and returned as they are.
/// </summary>
public sealed class MemoryRunHistoryStore : IRunHistoryStore
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, Dictionary<string, RunDetails>> _runsByDag = new(StringComparer.Ordinal);

    /// <inheritdoc />
    public Task SaveRunAsync(RunDetails run, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(run);
        lock (_lock)
        {
            if (!_runsByDag.TryGetValue(run.DagId, out var runs))
            {
                runs = new Dictionary<string, RunDetails>(StringComparer.Ordinal);
                _runsByDag[run.DagId] = runs;
            }

            runs[run.RunId] = run;
        }

        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task<RunDetails?> GetRunAsync(string dagId, string runId, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            return Task.FromResult(_runsByDag.TryGetValue(dagId, out var runs) && runs.TryGetValue(runId, out var run) ? run : null);
        }
    }

    /// <inheritdoc />
    public Task<ImmutableArray<RunSummary>> ListRunsAsync(string dagId, RunState? state, DateTimeOffset? before, int limit, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(limit);
        lock (_lock)
        {
            if (!_runsByDag.TryGetValue(dagId, out var runs))
            {
                return Task.FromResult(ImmutableArray<RunSummary>.Empty);
            }

            // Same order as the PostgreSQL store: newest logical date first, run id breaking ties.
            var page = runs.Values
                .Where(r => state is null || r.State == state)
                .Where(r => before is null || r.LogicalDate < before)
                .OrderByDescending(r => r.LogicalDate)
                .ThenByDescending(r => r.RunId, StringComparer.Ordinal)
                .Take(limit)
                .Select(RunSummary.From)
                .ToImmutableArray();
            return Task.FromResult(page);
        }
    }
}
