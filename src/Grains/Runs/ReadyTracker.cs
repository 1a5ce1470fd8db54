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
    private enum Outcome : byte
    {
        Open,
        Succeeded,
        Failed,
        Skipped,
    }

    private readonly int[][] _downstream;
    private readonly int[] _upstreamCount;
    private readonly int[] _done;
    private readonly int[] _succeeded;
    private readonly int[] _failed;
    private readonly int[] _skipped;
    private readonly Outcome[] _counted;
    private readonly bool[] _dirty;
    private List<int> _dirtyList = [];

    /// <param name="upstream">For each task (by index), the indices of its direct upstream tasks.</param>
    public ReadyTracker(IReadOnlyList<IReadOnlyList<int>> upstream)
    {
        var n = upstream.Count;
        var downstream = new List<int>[n];
        _upstreamCount = new int[n];
        for (var i = 0; i < n; i++)
        {
            downstream[i] = [];
        }
        for (var i = 0; i < n; i++)
        {
            _upstreamCount[i] = upstream[i].Count;
            foreach (var up in upstream[i])
            {
                downstream[up].Add(i);
            }
        }
        _downstream = [.. downstream.Select(d => d.ToArray())];
        _done = new int[n];
        _succeeded = new int[n];
        _failed = new int[n];
        _skipped = new int[n];
        _counted = new Outcome[n];
        _dirty = new bool[n];
        Unfinished = n;
    }

    /// <summary>Tasks not yet in a final state.</summary>
    public int Unfinished { get; private set; }

    public int Count => _counted.Length;

    /// <summary>Takes in a task's current state; when that changes what its downstream tasks see, they are to be decided again.</summary>
    public void Observe(int index, TaskState state)
    {
        var now = OutcomeOf(state);
        var was = _counted[index];
        if (now == was)
        {
            return;
        }
        _counted[index] = now;
        Unfinished += (was == Outcome.Open ? -1 : 0) + (now == Outcome.Open ? 1 : 0);
        foreach (var d in _downstream[index])
        {
            Tally(d, was, -1);
            Tally(d, now, +1);
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

    public UpstreamTally Tally(int index) =>
        new(_upstreamCount[index], _done[index], _succeeded[index], _failed[index], _skipped[index]);

    private void Tally(int index, Outcome outcome, int delta)
    {
        switch (outcome)
        {
            case Outcome.Succeeded:
                _succeeded[index] += delta;
                break;
            case Outcome.Failed:
                _failed[index] += delta;
                break;
            case Outcome.Skipped:
                _skipped[index] += delta;
                break;
            default:
                return;
        }
        _done[index] += delta;
    }

    // The same classification as TriggerRules.Decide over states.
    private static Outcome OutcomeOf(TaskState state) =>
        !state.IsFinal() ? Outcome.Open
        : state.IsFailure() ? Outcome.Failed
        : state == TaskState.Skipped ? Outcome.Skipped
        : Outcome.Succeeded;
}
