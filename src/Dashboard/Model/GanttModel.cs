using System.Collections.Immutable;
using Batchyard.Runs;

namespace Batchyard.Dashboard.Model;

/// <summary>What a Gantt segment stands for.</summary>
public enum SegmentKind
{
    /// <summary>The attempt waited for capacity (queued or submitted, not yet running).</summary>
    QueueWait,
    /// <summary>The attempt's job ran.</summary>
    Running,
    /// <summary>The task waited between a failed attempt and the next one.</summary>
    RetryGap,
}

/// <summary>One bar of the timeline, in fractions (0..1) of the run's time span.</summary>
public sealed record GanttSegment(SegmentKind Kind, int Attempt, DateTimeOffset Start, DateTimeOffset End, string Color, double Left, double Width, string Label);

public sealed record GanttRow(string TaskId, TaskState State, ImmutableArray<GanttSegment> Segments);

/// <summary>
/// The run's attempts on one time axis: for each task, each attempt's queue wait and run, and the gaps
/// between attempts (retry delays), so that "why did this take so long" is visible at a glance.
/// </summary>
public sealed record GanttModel(DateTimeOffset Start, DateTimeOffset End, ImmutableArray<GanttRow> Rows)
{
    public TimeSpan Span => End - Start;

    public static GanttModel Build(RunDetails run, DateTimeOffset now, IEnumerable<string>? taskOrder = null)
    {
        var start = run.StartedAt ?? run.QueuedAt;
        var attempts = run.Tasks.SelectMany(t => t.Attempts).ToArray();
        if (attempts.Length > 0)
        {
            start = Min(start, attempts.Min(a => a.QueuedAt));
        }
        var end = run.EndedAt ?? now;
        foreach (var attempt in attempts)
        {
            end = Max(end, attempt.EndedAt ?? attempt.StartedAt ?? attempt.QueuedAt);
        }
        foreach (var task in run.Tasks)
        {
            if (task.NextAttemptAt is { } next && !run.State.IsFinal())
            {
                end = Max(end, next);
            }
        }
        // A span of zero (everything in the same millisecond) would divide by zero; a second reads fine.
        if (end - start < TimeSpan.FromSeconds(1))
        {
            end = start + TimeSpan.FromSeconds(1);
        }
        var span = (end - start).TotalMilliseconds;
        double Fraction(DateTimeOffset t) => Math.Clamp((t - start).TotalMilliseconds / span, 0, 1);
        GanttSegment Segment(SegmentKind kind, int attempt, DateTimeOffset from, DateTimeOffset to, string color, string label)
        {
            var left = Fraction(from);
            return new GanttSegment(kind, attempt, from, to, color, left, Math.Max(0, Fraction(to) - left), label);
        }

        var order = (taskOrder ?? []).Select((id, i) => (id, i)).DistinctBy(p => p.id, StringComparer.Ordinal).ToDictionary(p => p.id, p => p.i, StringComparer.Ordinal);
        // A mapped task is one row: its instances together, from the first start to the last end.
        var instances = run.Tasks.Where(t => t.MapIndex is not null).ToLookup(t => t.TaskId, StringComparer.Ordinal);
        var tasks = run.Tasks.Where(t => t.MapIndex is null).OrderBy(t => order.GetValueOrDefault(t.TaskId, int.MaxValue)).ThenBy(t => t.Attempts.IsEmpty ? DateTimeOffset.MaxValue : t.Attempts[0].QueuedAt);
        var rows = ImmutableArray.CreateBuilder<GanttRow>();
        foreach (var task in tasks)
        {
            var segments = ImmutableArray.CreateBuilder<GanttSegment>();
            if (task.MapCount is { } count && instances[task.TaskId].SelectMany(i => i.Attempts).ToList() is { Count: > 0 } all)
            {
                var first = all.Min(a => a.StartedAt ?? a.QueuedAt);
                var last = all.Max(a => a.EndedAt ?? (a.State.IsFinal() ? a.StartedAt ?? a.QueuedAt : now));
                var done = instances[task.TaskId].Count(i => i.State.IsFinal());
                segments.Add(Segment(SegmentKind.Running, 1, first, Max(first, last), StateStyles.Color(task.State), $"{count} instances, {done} done, {Format.Duration(Max(first, last) - first)}"));
                rows.Add(new GanttRow(task.TaskId, task.State, segments.ToImmutable()));
                continue;
            }
            AttemptDetails? previous = null;
            foreach (var attempt in task.Attempts)
            {
                if (previous?.EndedAt is { } previousEnd && attempt.QueuedAt > previousEnd)
                {
                    segments.Add(Segment(SegmentKind.RetryGap, attempt.Attempt, previousEnd, attempt.QueuedAt, StateStyles.UpForRetry, $"retry delay before attempt {attempt.Attempt}: {Format.Duration(attempt.QueuedAt - previousEnd)}"));
                }
                var runningFrom = attempt.StartedAt ?? attempt.EndedAt ?? (attempt.State.IsFinal() ? attempt.QueuedAt : now);
                if (runningFrom > attempt.QueuedAt)
                {
                    segments.Add(Segment(SegmentKind.QueueWait, attempt.Attempt, attempt.QueuedAt, runningFrom, StateStyles.Queued, $"attempt {attempt.Attempt} queued {Format.Duration(runningFrom - attempt.QueuedAt)}"));
                }
                if (attempt.StartedAt is { } started)
                {
                    var ended = attempt.EndedAt ?? (run.EndedAt is { } runEnd && attempt.State.IsFinal() ? runEnd : now);
                    segments.Add(Segment(SegmentKind.Running, attempt.Attempt, started, Max(started, ended), StateStyles.Color(attempt.State), $"attempt {attempt.Attempt} {StateStyles.Name(attempt.State)} {Format.Duration(Max(started, ended) - started)}"));
                }
                previous = attempt;
            }
            if (task.State == TaskState.UpForRetry && previous?.EndedAt is { } lastEnd && task.NextAttemptAt is { } due && due > lastEnd)
            {
                segments.Add(Segment(SegmentKind.RetryGap, (previous?.Attempt ?? 0) + 1, lastEnd, due, StateStyles.UpForRetry, $"retry due in {Format.Duration(due - now)}"));
            }
            rows.Add(new GanttRow(task.TaskId, task.State, segments.ToImmutable()));
        }
        return new GanttModel(start, end, rows.ToImmutable());
    }

    private static DateTimeOffset Min(DateTimeOffset a, DateTimeOffset b) => a < b ? a : b;

    private static DateTimeOffset Max(DateTimeOffset a, DateTimeOffset b) => a > b ? a : b;
}
