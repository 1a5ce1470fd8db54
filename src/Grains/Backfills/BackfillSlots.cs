using System.Collections.Immutable;
using System.Globalization;
using Batchyard.Dags;
using Batchyard.Grains;
using Batchyard.Scheduling;

namespace Batchyard.Backfills;

/// <summary>The cron slots a backfill covers, and why a request is refused (one sentence, for a 400).</summary>
public static class BackfillSlots
{
    /// <summary>The most slots one backfill may cover.</summary>
    public const int MaxSlots = 10_000;

    /// <summary>Null when <paramref name="request"/> is a backfill <paramref name="definition"/> can do; else what is wrong.</summary>
    public static string? Check(DagDefinition definition, BackfillRequest request, out int total)
    {
        ArgumentNullException.ThrowIfNull(definition);
        ArgumentNullException.ThrowIfNull(request);
        total = 0;
        if (definition.Schedule is not { } schedule)
        {
            return $"the DAG {definition.DagId} has no schedule, so it has no slots to backfill";
        }
        if (request.From > request.To)
        {
            return $"from ({Text(request.From)}) is after to ({Text(request.To)})";
        }
        if (request.MaxActiveRuns is < 1)
        {
            return "max_active_runs must be at least 1";
        }
        if (CronSchedule.TryParse(schedule, definition.Timezone, out var error) is not { } cron)
        {
            return $"the DAG's schedule cannot be read: {error}";
        }
        total = Count(cron, request.From, request.To, MaxSlots + 1);
        if (total == 0)
        {
            return $"the range {Text(request.From)} to {Text(request.To)} holds no slot of '{schedule}' ({definition.Timezone})";
        }
        if (total > MaxSlots)
        {
            return $"the range holds more than {MaxSlots.ToString(CultureInfo.InvariantCulture)} slots of '{schedule}'; split it into smaller backfills";
        }
        return null;
    }

    /// <summary>Every slot in [from, to], oldest first.</summary>
    public static ImmutableArray<DateTimeOffset> All(CronSchedule cron, DateTimeOffset from, DateTimeOffset to)
    {
        ArgumentNullException.ThrowIfNull(cron);
        return [.. cron.Between(from.AddTicks(-1), to)];
    }

    private static int Count(CronSchedule cron, DateTimeOffset from, DateTimeOffset to, int atMost) =>
        cron.Between(from.AddTicks(-1), to).Take(atMost).Count();

    private static string Text(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);
}
