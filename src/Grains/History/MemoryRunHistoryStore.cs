using System.Collections.Concurrent;
using System.Collections.Immutable;
using Batchyard.Runs;

namespace Batchyard.History;

/// <summary>Run history in this process's memory (embedded mode: nothing survives a restart).</summary>
public sealed class MemoryRunHistoryStore : IRunHistoryStore
{
    private readonly ConcurrentDictionary<(string DagId, string RunId), RunDetails> _runs = new();

    public Task SaveRunAsync(RunDetails run, CancellationToken cancellationToken = default)
    {
        _runs[(run.DagId, run.RunId)] = run;
        return Task.CompletedTask;
    }

    public Task<RunDetails?> GetRunAsync(string dagId, string runId, CancellationToken cancellationToken = default) =>
        Task.FromResult(_runs.GetValueOrDefault((dagId, runId)));

    public Task<ImmutableArray<RunSummary>> ListRunsAsync(string dagId, RunState? state, DateTimeOffset? before, int limit, CancellationToken cancellationToken = default)
    {
        var runs = _runs.Values
            .Where(r => r.DagId == dagId && (state is null || r.State == state) && (before is null || r.LogicalDate < before))
            .OrderByDescending(r => r.LogicalDate)
            .ThenByDescending(r => r.RunId, StringComparer.Ordinal)
            .Take(limit)
            .Select(RunSummary.From)
            .ToImmutableArray();
        return Task.FromResult(runs);
    }
}
