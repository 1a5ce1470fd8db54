using System.Collections.Immutable;
using System.Globalization;
using Batchyard.Runs;

namespace Batchyard.Dashboard.Model;

/// <summary>
/// The DAG page's charts over its last finished runs, oldest first: each run's duration, each task's duration
/// (first start to last end of its attempts, every instance of a mapped task together), and each run's cost.
/// Values are in <see cref="Unit"/>; null where a run has no value (a task that never ran). A DAG of many tasks
/// charts its <see cref="MaxTaskSeries"/> longest (by their longest duration), in task order: 2,000 lines and
/// their legend are no chart. <see cref="TasksWithDurations"/> says how many there were.
/// </summary>
public sealed record RunCharts(
    ImmutableArray<string> Labels,
    ImmutableArray<string> RunIds,
    string Unit,
    ImmutableArray<double?> RunDurations,
    ImmutableArray<(string TaskId, ImmutableArray<double?> Durations)> TaskDurations,
    ImmutableArray<double?> CostUsd)
{
    /// <summary>Task lines charted at most.</summary>
    public const int MaxTaskSeries = 12;

    /// <summary>How many tasks had a duration in these runs (more than <see cref="TaskDurations"/> holds when there were more than <see cref="MaxTaskSeries"/>).</summary>
    public int TasksWithDurations { get; init; }

    /// <summary>From runs newest first (as the history lists them); only finished runs have a duration to chart.</summary>
    public static RunCharts Of(IEnumerable<RunDetails> runs, IEnumerable<string> taskOrder)
    {
        ArgumentNullException.ThrowIfNull(runs);
        ArgumentNullException.ThrowIfNull(taskOrder);
        var finished = runs.Where(r => r.StartedAt is not null && r.EndedAt is not null).Reverse().ToArray();
        var runSeconds = finished.Select(r => (double?)(r.EndedAt!.Value - r.StartedAt!.Value).TotalSeconds).ToArray();
        var perRun = finished.Select(TaskSeconds).ToArray();
        var withDurations = taskOrder
            .Select(taskId => (taskId, perRun.Select(r => r.TryGetValue(taskId, out var seconds) ? seconds : (double?)null).ToArray()))
            .Where(t => t.Item2.Any(v => v is not null))
            .ToArray();
        var taskSeconds = withDurations
            .Select((t, order) => (t, order))
            .OrderByDescending(p => p.t.Item2.Max())
            .ThenBy(p => p.order)
            .Take(MaxTaskSeries)
            .OrderBy(p => p.order)
            .Select(p => p.t)
            .ToArray();
        var longest = runSeconds.Concat(taskSeconds.SelectMany(t => t.Item2)).Max() ?? 0;
        var (unit, divisor) = longest >= 2 * 3600 ? ("h", 3600.0) : longest >= 120 ? ("min", 60.0) : ("s", 1.0);
        ImmutableArray<double?> Scale(IEnumerable<double?> values) => [.. values.Select(v => v / divisor)];
        return new RunCharts(
            [.. finished.Select(r => r.LogicalDate.UtcDateTime.ToString("MM-dd HH:mm", CultureInfo.InvariantCulture))],
            [.. finished.Select(r => r.RunId)],
            unit,
            Scale(runSeconds),
            [.. taskSeconds.Select(t => (t.taskId, Scale(t.Item2)))],
            [.. finished.Select(RunCostUsd)])
        {
            TasksWithDurations = withDurations.Length,
        };
    }

    /// <summary>True when at least one run has a cost to chart.</summary>
    public bool HasCost => CostUsd.Any(c => c is not null);

    /// <summary>What a run cost in USD (the sum of its priced attempts), or null when none of them has a price.</summary>
    public static double? RunCostUsd(RunDetails run) => run is { CostUsd: { } usd } ? (double)usd : null;

    /// <summary>Each task's duration in a run, in one pass over its entries: first start to last end of its attempts.</summary>
    private static Dictionary<string, double> TaskSeconds(RunDetails run)
    {
        var spans = new Dictionary<string, (DateTimeOffset First, DateTimeOffset Last)>(StringComparer.Ordinal);
        foreach (var task in run.Tasks)
        {
            foreach (var attempt in task.Attempts)
            {
                if (attempt.StartedAt is { } start && attempt.EndedAt is { } end)
                {
                    spans[task.TaskId] = spans.TryGetValue(task.TaskId, out var span)
                        ? (start < span.First ? start : span.First, end > span.Last ? end : span.Last)
                        : (start, end);
                }
            }
        }
        return spans.ToDictionary(p => p.Key, p => (p.Value.Last - p.Value.First).TotalSeconds, StringComparer.Ordinal);
    }
}
