using Batchyard.History;

namespace Batchyard.Runs;

/// <summary>
/// The instances of one expanded mapped task in a run: how they stand together (what the mapped task counts as
/// for its downstream tasks, and its own summed-up state), how many are active against <c>map.max_active</c>,
/// and which pending instance is launched next. Every change costs O(1), so a map of 10,000 instances
/// schedules in linear time.
/// </summary>
internal sealed class MapGroup
{
    private readonly UpstreamTally[] _counted;
    private readonly bool[] _active;
    private readonly Queue<int> _requeued = new();
    private int _cursor;

    public MapGroup(FoldedTask parent, int? maxActive)
    {
        Parent = parent;
        MaxActive = maxActive ?? int.MaxValue;
        var n = parent.Instances.Count;
        _counted = new UpstreamTally[n];
        _active = new bool[n];
        Counts = new UpstreamTally(0, 0, 0, 0, 0);
        for (var i = 0; i < n; i++)
        {
            _counted[i] = new UpstreamTally(0, 0, 0, 0, 0);
            Observe(parent.Instances[i]);
        }
    }

    public FoldedTask Parent { get; }

    public int MaxActive { get; }

    /// <summary>Instances queued, submitted, running or waiting to retry: each holds one of the cap's places.</summary>
    public int Active { get; private set; }

    /// <summary>What the mapped task counts as for its downstream tasks: each instance, by its state.</summary>
    public UpstreamTally Counts { get; private set; }

    public bool AllFinal => Counts.Done == Counts.Total;

    public void Observe(FoldedTask instance)
    {
        var i = instance.Plan.MapIndex!.Value;
        var now = ReadyTracker.Of(instance.State);
        Counts = ReadyTracker.Add(ReadyTracker.Add(Counts, _counted[i], -1), now, +1);
        _counted[i] = now;
        var active = instance.State is TaskState.Queued or TaskState.Submitted or TaskState.Running or TaskState.UpForRetry;
        if (active != _active[i])
        {
            _active[i] = active;
            Active += active ? 1 : -1;
        }
    }

    /// <summary>A cleared instance is launched again, before the ones never launched.</summary>
    public void Requeue(int index) => _requeued.Enqueue(index);

    /// <summary>The next pending instance to launch while the cap allows; null when none may start now.</summary>
    public FoldedTask? TakeNext()
    {
        if (Active >= MaxActive)
        {
            return null;
        }
        while (_requeued.TryDequeue(out var i))
        {
            if (Parent.Instances[i].State == TaskState.Pending)
            {
                return Parent.Instances[i];
            }
        }
        while (_cursor < Parent.Instances.Count)
        {
            var instance = Parent.Instances[_cursor++];
            if (instance.State == TaskState.Pending)
            {
                return instance;
            }
        }
        return null;
    }

    /// <summary>
    /// The mapped task's own state once every instance is final: succeeded when none failed; failed when one
    /// failed or timed out; else cancelled or upstream failed as its instances were; skipped when all were.
    /// </summary>
    public TaskState Summary()
    {
        if (!AllFinal)
        {
            return TaskState.Running;
        }
        if (Counts.Failed == 0)
        {
            return Counts.Skipped == Counts.Total ? TaskState.Skipped : TaskState.Succeeded;
        }
        var states = Parent.Instances.Select(i => i.State).ToHashSet();
        return states.Contains(TaskState.Failed) || states.Contains(TaskState.TimedOut) ? TaskState.Failed
            : states.Contains(TaskState.Cancelled) ? TaskState.Cancelled
            : TaskState.UpstreamFailed;
    }
}
