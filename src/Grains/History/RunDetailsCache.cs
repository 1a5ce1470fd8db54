using Batchyard.Runs;

namespace Batchyard.History;

/// <summary>
/// Runs folded from their journals, kept while their journal has not grown: a run's details are asked for
/// again and again (the DAG page's grid reads the last runs on every visit; a 10,000-instance run is
/// 40,000 events to fold) and an ended run's journal rarely changes. The journal's last sequence number
/// says whether a cached fold is still current. Bounded by the task entries it holds, oldest first out.
/// </summary>
public sealed class RunDetailsCache(long capacityEntries = 200_000)
{
    private readonly Lock _lock = new();
    private readonly Dictionary<(string DagId, string RunId), Cached> _runs = [];
    private readonly Queue<((string DagId, string RunId) Key, long Stamp)> _order = new();
    private long _entries;
    private long _stamp;

    /// <summary>Folds found current, for tests and benchmarks.</summary>
    public long Hits { get; private set; }

    public async Task<RunDetails?> GetAsync(IRunJournal journal, string dagId, string runId, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(journal);
        var key = (dagId, runId);
        var last = await journal.LastSeqAsync(dagId, runId, cancellationToken).ConfigureAwait(false);
        lock (_lock)
        {
            if (_runs.TryGetValue(key, out var hit) && hit.Seq == last)
            {
                Hits++;
                return hit.Details;
            }
        }
        var events = await journal.ReadAsync(dagId, runId, cancellationToken).ConfigureAwait(false);
        var details = FoldedRun.From(events).ToDetails(dagId, runId);
        if (details is not null && events.Count > 0)
        {
            Put(key, events[^1].Seq, details);
        }
        return details;
    }

    private void Put((string DagId, string RunId) key, long seq, RunDetails details)
    {
        var size = details.Tasks.Length + 1L;
        if (size > capacityEntries)
        {
            return;
        }
        lock (_lock)
        {
            if (_runs.TryGetValue(key, out var old))
            {
                if (old.Seq >= seq)
                {
                    return;
                }
                _entries -= old.Size;
            }
            var stamp = ++_stamp;
            _runs[key] = new Cached(seq, details, size, stamp);
            _order.Enqueue((key, stamp));
            _entries += size;
            while (_entries > capacityEntries && _order.TryDequeue(out var oldest))
            {
                // A key put again since has a newer stamp: its older place in the queue is stale.
                if (_runs.TryGetValue(oldest.Key, out var evicted) && evicted.Stamp == oldest.Stamp)
                {
                    _runs.Remove(oldest.Key);
                    _entries -= evicted.Size;
                }
            }
        }
    }

    private sealed record Cached(long Seq, RunDetails Details, long Size, long Stamp);
}
