using Batchyard.History;

namespace Batchyard.Runs;

/// <summary>When each task of a run next needs attention (a retry that is due, a running attempt's deadline), earliest first.</summary>
internal sealed class DueTimes
{
    private static readonly Comparer<(DateTimeOffset At, string TaskId)> Order = Comparer<(DateTimeOffset At, string TaskId)>.Create(
        (a, b) => a.At.CompareTo(b.At) is var c && c != 0 ? c : string.CompareOrdinal(a.TaskId, b.TaskId));

    private readonly SortedSet<(DateTimeOffset At, string TaskId)> _queue = new(Order);
    private readonly Dictionary<string, DateTimeOffset> _of = new(StringComparer.Ordinal);

    public DateTimeOffset? Earliest => _queue.Count > 0 ? _queue.Min.At : null;

    /// <summary>Files the task under its current due time (or none).</summary>
    public void Set(FoldedTask task)
    {
        var id = task.Key;
        DateTimeOffset? at = task.State switch
        {
            Batchyard.Runs.TaskState.UpForRetry => task.NextAttemptAt,
            Batchyard.Runs.TaskState.Running => task.Deadline,
            _ => null,
        };
        if (_of.TryGetValue(id, out var old))
        {
            if (old == at)
            {
                return;
            }
            _queue.Remove((old, id));
            _of.Remove(id);
        }
        if (at is { } due)
        {
            _queue.Add((due, id));
            _of[id] = due;
        }
    }

    /// <summary>Takes the earliest task due at or before <paramref name="now"/>, or null.</summary>
    public string? PopDue(DateTimeOffset now)
    {
        if (_queue.Count == 0 || _queue.Min.At > now)
        {
            return null;
        }
        var (_, id) = _queue.Min;
        _queue.Remove(_queue.Min);
        _of.Remove(id);
        return id;
    }
}
