using System.Globalization;
using Batchyard.Access;
using Batchyard.Costs;
using Batchyard.Dags;
using Batchyard.Grains;
using Batchyard.History;

namespace Batchyard.Silo.Api;

/// <summary>
/// Cost reports, shared by HTTP (<c>GET /api/v1/costs</c>) and gRPC (<c>GetCosts</c>): the history's cost cells in a
/// range, grouped by DAG, owner, tag, instance type or day. Owners and tags are the DAGs' as the registry has them
/// now; a key limited to tags sees only the costs of its DAGs.
/// </summary>
public sealed class CostOperations(
    IGrainFactory grains,
    IRunHistoryStore history,
    ReadRetry retry,
    [FromKeyedServices(BatchyardClock.Key)] TimeProvider clock)
{
    /// <summary>The report for <c>from</c>, <c>to</c> (ISO-8601 instants or dates, the current UTC month by default) and <c>group_by</c>.</summary>
    public async Task<Outcome<CostReport>> GetCostsAsync(Caller caller, string? from, string? to, string? groupBy, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(caller);
        if (!CostReports.TryParse(groupBy, out var grouping))
        {
            return Failure.BadRequest("Invalid group_by", $"group_by must be one of {string.Join(", ", CostReports.Names)}; got '{groupBy}'");
        }
        var now = clock.GetUtcNow();
        var monthStart = new DateTimeOffset(now.Year, now.Month, 1, 0, 0, 0, TimeSpan.Zero);
        if (!TryReadTime(from, endOfDay: false, monthStart, out var start))
        {
            return Failure.BadRequest("Invalid from", $"from must be an ISO-8601 date (2026-11-01) or time (2026-11-01T00:00:00Z); got '{from}'");
        }
        if (!TryReadTime(to, endOfDay: true, monthStart.AddMonths(1), out var end))
        {
            return Failure.BadRequest("Invalid to", $"to must be an ISO-8601 date (2026-11-30, counted whole) or time; got '{to}'");
        }
        if (end <= start)
        {
            return Failure.BadRequest("Invalid range", $"to ({end:O}) must be after from ({start:O})");
        }

        var page = await retry.RunAsync(
            () => grains.GetGrain<IDagRegistryGrain>(0).QueryAsync(new DagQuery { VisibleTags = caller.IsTagLimited ? caller.Tags : [] }),
            cancellationToken);
        var dags = page.Items.ToDictionary(d => d.DagId, d => new CostDag(d.Owner, d.Tags), StringComparer.Ordinal);
        var cells = await retry.RunAsync(() => history.SumCostsAsync(start, end, cancellationToken), cancellationToken);
        // A tag-limited key sees the DAGs the registry gave it; a deleted DAG has no tags left, so only unlimited keys see its costs.
        return CostReports.Build(cells, grouping, start, end, dags, caller.IsTagLimited ? dags.ContainsKey : _ => true);
    }

    /// <summary>An instant, or a date at midnight UTC (the next midnight for the end of a range, so that the day counts whole).</summary>
    private static bool TryReadTime(string? text, bool endOfDay, DateTimeOffset fallback, out DateTimeOffset time)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            time = fallback;
            return true;
        }
        if (DateOnly.TryParseExact(text, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var date))
        {
            time = new DateTimeOffset(date.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero).AddDays(endOfDay ? 1 : 0);
            return true;
        }
        if (DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out time))
        {
            return true;
        }
        time = default;
        return false;
    }
}
