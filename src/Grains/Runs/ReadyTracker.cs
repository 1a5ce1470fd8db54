using Batchyard.Dags;

namespace Batchyard.Runs;

/// <summary>How a task's direct upstream tasks stand: all a trigger rule looks at.</summary>
public readonly record struct UpstreamTally(int Total, int Done, int Succeeded, int Failed, int Skipped);

/// <summary>
/// A run's trigger-rule bookkeeping, kept as tasks change instead of recomputed: for every task, the tally of
/// its direct upstream tasks, and which tasks must be decided again because an upstream task finished (or was
/// cleared). A completion costs its own downstream tasks, not a pass over the run, so a run of thousands of
/// tasks schedules in linear time.
/// </summary>
public sealed class ReadyTracker
{
    private readonly int[][] _downstream;
    private readonly UpstreamTally[] _tally;
    private readonly UpstreamTally[] _counted;
    private readonly bool[] _dirty;
    private List<int> _dirtyList = [];

    /// <param name="upstream">For each task (by index), the indices of its direct upstream tasks.</param>
    public ReadyTracker(IReadOnlyList<IReadOnlyList<int>> upstream)
    {
        var n = upstream.Count;
        var downstream = new List<int>[n];
        for (var i = 0; i < n; i++)
        {
            downstream[i] = [];
        }
        for (var i = 0; i < n; i++)
        {
            foreach (var up in upstream[i])
            {
                downstream[up].Add(i);
            }
        }
        _downstream = [.. downstream.Select(d => d.ToArray())];
        _tally = new UpstreamTally[n];
        _counted = new UpstreamTally[n];
        var open = Of(TaskState.Pending);
        for (var i = 0; i < n; i++)
        {
            _counted[i] = open;
        }
        for (var i = 0; i < n; i++)
        {
            foreach (var d in _downstream[i])
            {
                _tally[d] = Add(_tally[d], open, +1);
            }
        }
        _dirty = new bool[n];
        Unfinished = n;
    }

    /// <summary>Tasks not yet in a final state (a mapped task counts as one until all its instances are).</summary>
    public int Unfinished { get; private set; }

    public int Count => _counted.Length;

    /// <summary>Takes in a task's current state; when that changes what its downstream tasks see, they are to be decided again.</summary>
    public void Observe(int index, TaskState state) => Contribute(index, Of(state));

    /// <summary>
    /// Takes in what a task counts as for its downstream tasks when that is more than one state: an expanded
    /// mapped task counts each of its instances (<paramref name="counts"/>: total, done, succeeded, failed, skipped).
    /// </summary>
    public void Contribute(int index, UpstreamTally counts)
    {
        var was = _counted[index];
        if (was == counts)
        {
            return;
        }
        _counted[index] = counts;
        Unfinished += (IsOpen(was) ? -1 : 0) + (IsOpen(counts) ? 1 : 0);
        foreach (var d in _downstream[index])
        {
            _tally[d] = Add(Add(_tally[d], was, -1), counts, +1);
            MarkDirty(d);
        }
    }

    /// <summary>Asks for the task to be decided on the next pass (it was cleared, or the run resumed).</summary>
    public void MarkDirty(int index)
    {
        if (!_dirty[index])
        {
            _dirty[index] = true;
            _dirtyList.Add(index);
        }
    }

    public void MarkAllDirty()
    {
        for (var i = 0; i < _dirty.Length; i++)
        {
            MarkDirty(i);
        }
    }

    /// <summary>The tasks to decide, in DAG order; empty when nothing changed since the last take.</summary>
    public List<int> TakeDirty()
    {
        var taken = _dirtyList;
        _dirtyList = [];
        foreach (var i in taken)
        {
            _dirty[i] = false;
        }
        taken.Sort();
        return taken;
    }

    public UpstreamTally Tally(int index) => _tally[index];

    /// <summary>One task in one state, counted the way <see cref="TriggerRules.Decide(Batchyard.Dags.TriggerRule, IEnumerable{TaskState})"/> counts states.</summary>
    public static UpstreamTally Of(TaskState state) =>
        !state.IsFinal() ? new(1, 0, 0, 0, 0)
        : state.IsFailure() ? new(1, 1, 0, 1, 0)
        : state == TaskState.Skipped ? new(1, 1, 0, 0, 1)
        : new(1, 1, 1, 0, 0);

    public static UpstreamTally Add(UpstreamTally a, UpstreamTally b, int sign) =>
        new(a.Total + (sign * b.Total), a.Done + (sign * b.Done), a.Succeeded + (sign * b.Succeeded), a.Failed + (sign * b.Failed), a.Skipped + (sign * b.Skipped));

    private static bool IsOpen(UpstreamTally counts) => counts.Done < counts.Total;
}
