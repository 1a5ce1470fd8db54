using System.Collections.Immutable;
using Batchyard.Runs;

namespace Batchyard.Dashboard.Model;

/// <summary>How many of a mapped task's instances are in one state.</summary>
public readonly record struct StateCount(TaskState State, int Count);

/// <summary>
/// A mapped task's instances counted by state, for every mapped task of a run, in one pass over its entries
/// (a 10,000-instance map is counted once per change, not once per row or node that shows it).
/// </summary>
public static class MapCounts
{
    public static IReadOnlyDictionary<string, ImmutableArray<StateCount>> Of(RunDetails? run)
    {
        if (run is null)
        {
            return ImmutableDictionary<string, ImmutableArray<StateCount>>.Empty;
        }
        var tallies = new Dictionary<string, int[]>(StringComparer.Ordinal);
        var states = Enum.GetValues<TaskState>();
        var width = states.Max(s => (int)s) + 1;
        foreach (var task in run.Tasks)
        {
            if (task.MapIndex is null)
            {
                if (task.MapCount is not null && !tallies.ContainsKey(task.TaskId))
                {
                    tallies[task.TaskId] = new int[width];
                }
                continue;
            }
            if (!tallies.TryGetValue(task.TaskId, out var tally))
            {
                tallies[task.TaskId] = tally = new int[width];
            }
            tally[(int)task.State]++;
        }
        return tallies.ToDictionary(
            pair => pair.Key,
            pair => states.Where(s => pair.Value[(int)s] > 0).Order().Select(s => new StateCount(s, pair.Value[(int)s])).ToImmutableArray(),
            StringComparer.Ordinal);
    }

    /// <summary>The states of a group of tasks counted (tasks without a state left out), in state order.</summary>
    public static ImmutableArray<StateCount> OfTasks(IEnumerable<string> taskIds, IReadOnlyDictionary<string, TaskState>? states)
    {
        if (states is null)
        {
            return [];
        }
        var tally = new Dictionary<TaskState, int>();
        foreach (var taskId in taskIds)
        {
            if (states.TryGetValue(taskId, out var state))
            {
                tally[state] = tally.GetValueOrDefault(state) + 1;
            }
        }
        return [.. tally.OrderBy(p => p.Key).Select(p => new StateCount(p.Key, p.Value))];
    }

    /// <summary>
    /// The one state that stands for a group: a failure if any (a single failed task among 2,000 must show),
    /// else the largest unfinished state, else the largest; null when none has a state.
    /// </summary>
    public static TaskState? Dominant(ImmutableArray<StateCount> counts)
    {
        if (counts.IsDefaultOrEmpty)
        {
            return null;
        }
        var failed = counts.Where(c => c.State is TaskState.Failed or TaskState.TimedOut or TaskState.UpstreamFailed).OrderByDescending(c => c.Count).ToList();
        if (failed.Count > 0)
        {
            return failed[0].State;
        }
        var unfinished = counts.Where(c => !c.State.IsFinal()).OrderByDescending(c => c.Count).ToList();
        return (unfinished.Count > 0 ? unfinished[0] : counts.OrderByDescending(c => c.Count).First()).State;
    }

    /// <summary>"4 succeeded · 2 running".</summary>
    public static string Describe(ImmutableArray<StateCount> counts) =>
        string.Join(" · ", counts.Select(c => $"{c.Count} {StateStyles.Name(c.State)}"));
}
