using System.Collections.Immutable;
using System.Diagnostics;
using Batchyard.Runs;
using Batchyard.Telemetry;

namespace Batchyard.History;

/// <summary>
/// The run journal kept in this process (the embedded, single-silo default): nothing survives a restart.
/// It is also the history store, projecting runs from the same events: run-level events keep a summary per
/// run for listing; a run's details are folded from its events on demand.
/// </summary>
public sealed class MemoryRunJournal(BatchyardMetrics? metrics = null) : IRunJournal, IRunHistoryStore
{
    private readonly Lock _lock = new();
    private readonly Dictionary<(string DagId, string RunId), List<RunEvent>> _events = [];
    private readonly Dictionary<string, Dictionary<string, RunSummary>> _summaries = new(StringComparer.Ordinal);
    private readonly RunDetailsCache _details = new();
    // The cost projection: one entry per ended attempt with a cost, by run (what run lists sum) and in all.
    private readonly Dictionary<(string DagId, string RunId), Dictionary<(string TaskKey, int Attempt), CostEntry>> _costs = [];

    /// <inheritdoc />
    public Task AppendAsync(IReadOnlyList<RunEvent> events, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(events);
        var started = Stopwatch.GetTimestamp();
        Append(events);
        metrics?.JournalCommitted("memory", events.Count, Stopwatch.GetElapsedTime(started));
        return Task.CompletedTask;
    }

    private void Append(IReadOnlyList<RunEvent> events)
    {
        lock (_lock)
        {
            foreach (var e in events)
            {
                var key = (e.DagId, e.RunId);
                if (!_events.TryGetValue(key, out var list))
                {
                    _events[key] = list = [];
                }
                if (list.Count > 0 && list[^1].Seq >= e.Seq)
                {
                    // Written already (a retried append): appends are idempotent per sequence number.
                    continue;
                }
                list.Add(e);
                if (e.Kind is RunEventKinds.RunCreated or RunEventKinds.RunState || (e.Kind == RunEventKinds.Late && e.TaskId is null))
                {
                    Project(e);
                }
                else if (CostProjection.From(e) is { } cost)
                {
                    ProjectCost(cost);
                }
            }
        }
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<RunEvent>> ReadAsync(string dagId, string runId, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            return Task.FromResult<IReadOnlyList<RunEvent>>(_events.TryGetValue((dagId, runId), out var list) ? [.. list] : []);
        }
    }

    /// <inheritdoc />
    public Task<long> LastSeqAsync(string dagId, string runId, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            return Task.FromResult(_events.TryGetValue((dagId, runId), out var list) && list.Count > 0 ? list[^1].Seq : 0L);
        }
    }

    /// <inheritdoc />
    public Task<RunDetails?> GetRunAsync(string dagId, string runId, CancellationToken cancellationToken = default) =>
        _details.GetAsync(this, dagId, runId, cancellationToken);

    /// <inheritdoc />
    public Task<ImmutableArray<RunSummary>> ListRunsAsync(string dagId, RunState? state, DateTimeOffset? before, int limit, RunPosition? after = null, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(limit);
        lock (_lock)
        {
            if (!_summaries.TryGetValue(dagId, out var runs))
            {
                return Task.FromResult(ImmutableArray<RunSummary>.Empty);
            }
            // Same order as the PostgreSQL store: newest logical date first, run id breaking ties.
            return Task.FromResult(runs.Values
                .Where(r => state is null || r.State == state)
                .Where(r => before is null || r.LogicalDate < before)
                .Where(r => after is null || after.Precedes(r))
                .OrderByDescending(r => r.LogicalDate)
                .ThenByDescending(r => r.RunId, StringComparer.Ordinal)
                .Take(limit)
                .ToImmutableArray());
        }
    }

    /// <inheritdoc />
    public Task<ImmutableArray<RunSummary>> ListRunningAsync(CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            return Task.FromResult(_summaries.Values.SelectMany(r => r.Values).Where(r => r.State == RunState.Running).ToImmutableArray());
        }
    }

    /// <inheritdoc />
    public Task<ImmutableArray<CostCell>> SumCostsAsync(DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            return Task.FromResult(CostProjection.Sum(_costs.Values.SelectMany(r => r.Values).Where(c => c.EndedAt >= from && c.EndedAt < to)).ToImmutableArray());
        }
    }

    /// <inheritdoc />
    public Task<decimal> SumDagCostAsync(string dagId, DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            return Task.FromResult(_costs.Where(r => r.Key.DagId == dagId).SelectMany(r => r.Value.Values)
                .Where(c => c.EndedAt >= from && c.EndedAt < to).Sum(c => c.Usd ?? 0m));
        }
    }

    private void ProjectCost(CostEntry cost)
    {
        var key = (cost.DagId, cost.RunId);
        if (!_costs.TryGetValue(key, out var attempts))
        {
            _costs[key] = attempts = [];
        }
        attempts[(cost.TaskKey, cost.Attempt)] = cost;
        if (_summaries.TryGetValue(cost.DagId, out var runs) && runs.TryGetValue(cost.RunId, out var summary))
        {
            runs[cost.RunId] = summary with { CostUsd = RunCost(attempts) };
        }
    }

    private static decimal? RunCost(Dictionary<(string TaskKey, int Attempt), CostEntry> attempts) =>
        attempts.Values.Any(c => c.Usd is not null) ? attempts.Values.Sum(c => c.Usd ?? 0m) : null;

    private void Project(RunEvent e)
    {
        if (!_summaries.TryGetValue(e.DagId, out var runs))
        {
            _summaries[e.DagId] = runs = new Dictionary<string, RunSummary>(StringComparer.Ordinal);
        }
        if (e.Kind == RunEventKinds.RunCreated)
        {
            var created = RunFactJson.Read<RunCreatedFact>(e.Payload);
            runs[e.RunId] = new RunSummary { DagId = e.DagId, RunId = e.RunId, State = RunState.Queued, LogicalDate = created.LogicalDate, QueuedAt = created.QueuedAt, RunType = created.RunType };
        }
        else if (e.Kind == RunEventKinds.Late && runs.TryGetValue(e.RunId, out var late))
        {
            runs[e.RunId] = late with { Late = true };
        }
        else if (runs.TryGetValue(e.RunId, out var summary))
        {
            var state = RunFactJson.Read<RunStateFact>(e.Payload);
            runs[e.RunId] = summary with { State = state.State, StartedAt = state.StartedAt, EndedAt = state.EndedAt };
        }
    }
}
