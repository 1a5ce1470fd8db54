using System.Collections.Immutable;
using Batchyard.Scheduling;

namespace Batchyard.Dags;

/// <summary>
/// The DAG list in memory: one row per DAG, kept in id order, filtered and paged by <see cref="DagQuery"/>.
/// A page costs one pass over the rows (no grain call); counts come from the same pass.
/// </summary>
public sealed class DagIndex
{
    private readonly List<string> _ids = [];
    private readonly Dictionary<string, Row> _rows = new(StringComparer.Ordinal);

    private sealed record Row(DagSummary Summary, CronSchedule? Cron);

    public int Count => _ids.Count;

    public bool Contains(string dagId) => _rows.ContainsKey(dagId);

    /// <summary>Adds or replaces a DAG's row.</summary>
    public void Set(DagSummary summary)
    {
        ArgumentNullException.ThrowIfNull(summary);
        var cron = summary.Schedule is { } schedule ? CronSchedule.TryParse(schedule, summary.Timezone, out _) : null;
        if (!_rows.ContainsKey(summary.DagId))
        {
            var at = _ids.BinarySearch(summary.DagId, StringComparer.Ordinal);
            _ids.Insert(~at, summary.DagId);
        }
        _rows[summary.DagId] = new Row(summary, cron);
    }

    public void Remove(string dagId)
    {
        if (_rows.Remove(dagId))
        {
            _ids.RemoveAt(_ids.BinarySearch(dagId, StringComparer.Ordinal));
        }
    }

    /// <summary>
    /// The DAGs matching <paramref name="query"/> after its position, by id; a next-run time that has passed
    /// (its slot fired since the DAG last reported) is rolled on to the schedule's next slot after <paramref name="now"/>.
    /// </summary>
    public DagPage Query(DagQuery query, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(query);
        var search = string.IsNullOrWhiteSpace(query.Search) ? null : query.Search.Trim();
        var limit = query.Limit ?? int.MaxValue;
        var items = ImmutableArray.CreateBuilder<DagSummary>(Math.Min(limit, _ids.Count));
        int matching = 0, running = 0, paused = 0, total = 0;
        string? lastShown = null;
        var more = false;
        var skip = query.Offset;
        foreach (var id in _ids)
        {
            var row = _rows[id];
            var dag = row.Summary;
            if (!Visible(dag, query.VisibleTags))
            {
                continue;
            }
            total++;
            running += dag.ActiveRuns > 0 ? 1 : 0;
            paused += dag.Paused ? 1 : 0;
            if (!Matches(dag, query, search))
            {
                continue;
            }
            matching++;
            if (query.After is { } after && string.CompareOrdinal(id, after) <= 0)
            {
                continue;
            }
            if (skip > 0)
            {
                skip--;
            }
            else if (items.Count < limit)
            {
                items.Add(Current(row, now));
                lastShown = id;
            }
            else
            {
                more = true;
            }
        }
        return new DagPage
        {
            Items = items.ToImmutable(),
            NextAfter = more ? lastShown : null,
            Matching = matching,
            Total = total,
            Running = running,
            Paused = paused,
        };
    }

    /// <summary>Every tag and owner with its number of DAGs, by value.</summary>
    public DagFacets Facets(ImmutableArray<string> visibleTags = default)
    {
        var tags = new Dictionary<string, int>(StringComparer.Ordinal);
        var owners = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var row in _rows.Values)
        {
            if (!Visible(row.Summary, visibleTags))
            {
                continue;
            }
            foreach (var tag in row.Summary.Tags.Distinct(StringComparer.Ordinal))
            {
                tags[tag] = tags.GetValueOrDefault(tag) + 1;
            }
            if (row.Summary.Owner is { } owner)
            {
                owners[owner] = owners.GetValueOrDefault(owner) + 1;
            }
        }
        return new DagFacets { Tags = Sorted(tags), Owners = Sorted(owners) };
    }

    private static ImmutableArray<FacetCount> Sorted(Dictionary<string, int> counts) =>
        [.. counts.OrderBy(c => c.Key, StringComparer.Ordinal).Select(c => new FacetCount(c.Key, c.Value))];

    /// <summary>Whether a key limited to <paramref name="tags"/> (none: not limited) sees the DAG: one shared tag.</summary>
    private static bool Visible(DagSummary dag, ImmutableArray<string> tags) =>
        tags.IsDefaultOrEmpty || dag.Tags.Any(t => tags.Contains(t, StringComparer.Ordinal));

    private static bool Matches(DagSummary dag, DagQuery query, string? search) =>
        (query.Tag is null || dag.Tags.Contains(query.Tag, StringComparer.Ordinal))
        && (query.Owner is null || string.Equals(dag.Owner, query.Owner, StringComparison.Ordinal))
        && (query.LastRunState is null || dag.LastRunState == query.LastRunState)
        && (!query.NeverRun || dag.LastRunState is null)
        && (query.Paused is null || dag.Paused == query.Paused)
        && (!query.Running || dag.ActiveRuns > 0)
        && (search is null || Found(dag, search));

    private static bool Found(DagSummary dag, string text) =>
        dag.DagId.Contains(text, StringComparison.OrdinalIgnoreCase)
        || (dag.Description?.Contains(text, StringComparison.OrdinalIgnoreCase) ?? false)
        || (dag.Owner?.Contains(text, StringComparison.OrdinalIgnoreCase) ?? false)
        || dag.Tags.Any(t => t.Contains(text, StringComparison.OrdinalIgnoreCase));

    private static DagSummary Current(Row row, DateTimeOffset now) =>
        row.Summary is { Paused: false, NextRunAt: { } next } summary && next <= now && row.Cron is { } cron
            ? summary with { NextRunAt = cron.NextAfter(now) }
            : row.Summary;
}
