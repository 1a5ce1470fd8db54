using System.Collections.Immutable;
using System.Globalization;
using Batchyard.History;

namespace Batchyard.Costs;

/// <summary>What a cost report groups attempts by (<c>group_by</c>).</summary>
public enum CostGrouping
{
    Dag,
    Owner,
    Tag,
    InstanceType,
    Day,
}

/// <summary>The attempts of one group: what they cost, the compute they used, how many there were and how many had no price.</summary>
[GenerateSerializer, Immutable]
public sealed record CostGroup(
    [property: Id(0)] string Key,
    [property: Id(1)] decimal Usd,
    [property: Id(2)] double ComputeSeconds,
    [property: Id(3)] int Attempts,
    [property: Id(4)] int UnpricedAttempts);

/// <summary>The costs of the attempts that ended in [<see cref="From"/>, <see cref="To"/>), grouped, with the total.</summary>
public sealed record CostReport(DateTimeOffset From, DateTimeOffset To, string GroupBy, ImmutableArray<CostGroup> Groups, CostGroup Total);

/// <summary>What a cost report knows of a DAG: its owner and tags as the registry has them now.</summary>
public sealed record CostDag(string? Owner, ImmutableArray<string> Tags);

/// <summary>Builds cost reports from the history's cost cells.</summary>
public static class CostReports
{
    /// <summary>The key of attempts whose DAG has no owner (or is gone).</summary>
    public const string NoOwner = "(no owner)";

    /// <summary>The key of attempts whose DAG has no tag (or is gone).</summary>
    public const string NoTag = "(no tag)";

    /// <summary>The API's names of the groupings.</summary>
    public static readonly ImmutableArray<string> Names = ["dag", "owner", "tag", "instance_type", "day"];

    public static bool TryParse(string? name, out CostGrouping grouping)
    {
        var index = string.IsNullOrEmpty(name) ? 0 : Names.IndexOf(name.ToLowerInvariant());
        grouping = index < 0 ? default : (CostGrouping)index;
        return index >= 0;
    }

    public static string NameOf(CostGrouping grouping) => Names[(int)grouping];

    /// <summary>
    /// Groups <paramref name="cells"/> whose DAG <paramref name="sees"/> admits. A DAG with several tags counts in
    /// each of its tags' groups, so by tag the groups may add up to more than the total, which counts each attempt once.
    /// Days come in date order; other groups most expensive first.
    /// </summary>
    public static CostReport Build(
        IEnumerable<CostCell> cells,
        CostGrouping grouping,
        DateTimeOffset from,
        DateTimeOffset to,
        IReadOnlyDictionary<string, CostDag> dags,
        Func<string, bool> sees)
    {
        ArgumentNullException.ThrowIfNull(cells);
        ArgumentNullException.ThrowIfNull(dags);
        ArgumentNullException.ThrowIfNull(sees);
        var seen = cells.Where(c => sees(c.DagId)).ToList();
        var groups = seen
            .SelectMany(cell => KeysOf(cell, grouping, dags.GetValueOrDefault(cell.DagId)).Select(key => (Key: key, Cell: cell)))
            .GroupBy(x => x.Key, StringComparer.Ordinal)
            .Select(g => Sum(g.Key, g.Select(x => x.Cell)));
        var ordered = grouping == CostGrouping.Day
            ? groups.OrderBy(g => g.Key, StringComparer.Ordinal)
            : groups.OrderByDescending(g => g.Usd).ThenByDescending(g => g.ComputeSeconds).ThenBy(g => g.Key, StringComparer.Ordinal);
        return new CostReport(from, to, NameOf(grouping), [.. ordered], Sum("total", seen));
    }

    private static IEnumerable<string> KeysOf(CostCell cell, CostGrouping grouping, CostDag? dag) => grouping switch
    {
        CostGrouping.Owner => [string.IsNullOrEmpty(dag?.Owner) ? NoOwner : dag.Owner],
        CostGrouping.Tag => dag is { Tags.IsDefaultOrEmpty: false } ? dag.Tags.Distinct(StringComparer.Ordinal) : [NoTag],
        CostGrouping.InstanceType => [cell.InstanceType],
        CostGrouping.Day => [cell.Day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)],
        _ => [cell.DagId],
    };

    private static CostGroup Sum(string key, IEnumerable<CostCell> cells)
    {
        var (usd, seconds, attempts, unpriced) = (0m, 0d, 0, 0);
        foreach (var cell in cells)
        {
            (usd, seconds, attempts, unpriced) = (usd + cell.Usd, seconds + cell.ComputeSeconds, attempts + cell.Attempts, unpriced + cell.UnpricedAttempts);
        }
        return new CostGroup(key, usd, Math.Round(seconds, 3), attempts, unpriced);
    }
}
