using Batchyard.Runs;

namespace Batchyard.History;

/// <summary>
/// The cost projection of the journal: an ended attempt with a cost becomes one <see cref="CostEntry"/>, written
/// with the journal event that ended it (and overwritten, never added twice, when the same attempt is written again).
/// </summary>
public static class CostProjection
{
    /// <summary>The cost row an event carries, or null (run-level events, attempts not ended, attempts without cost).</summary>
    public static CostEntry? From(RunEvent e)
    {
        ArgumentNullException.ThrowIfNull(e);
        // Most task events carry no cost (a state change, an attempt starting): skip them without parsing.
        if (e.Kind != RunEventKinds.Task || e.TaskId is not { } taskKey || !e.Payload.Contains("\"cost\":{", StringComparison.Ordinal))
        {
            return null;
        }
        return RunFactJson.Read<TaskFact>(e.Payload).Attempt is { Cost: { } cost, EndedAt: { } endedAt } attempt
            ? new CostEntry(e.DagId, e.RunId, taskKey, attempt.Attempt, endedAt, cost.InstanceType, cost.Usd, cost.ComputeSeconds)
            : null;
    }

    /// <summary>Sums entries into cells by DAG, instance type and UTC day of their end.</summary>
    public static List<CostCell> Sum(IEnumerable<CostEntry> entries) =>
        [.. entries
            .GroupBy(c => (c.DagId, c.InstanceType, Day: DateOnly.FromDateTime(c.EndedAt.UtcDateTime)))
            .Select(g => new CostCell(g.Key.DagId, g.Key.InstanceType, g.Key.Day,
                g.Sum(c => c.Usd ?? 0m), g.Sum(c => c.ComputeSeconds), g.Count(), g.Count(c => c.Usd is null)))];
}
