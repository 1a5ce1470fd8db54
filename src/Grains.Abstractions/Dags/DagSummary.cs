using System.Collections.Immutable;
using Batchyard.Runs;

namespace Batchyard.Dags;

/// <summary>
/// What a list shows of one DAG: its DAG grain's projection, kept by the registry so that a page of DAGs is
/// answered from memory without calling each DAG's grain.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record DagSummary
{
    /// <summary>Run chips a list shows per DAG (the dashboard's "recent runs").</summary>
    public const int RecentRunsShown = 8;

    [Id(0)] public required string DagId { get; init; }
    [Id(1)] public bool Paused { get; init; }
    /// <summary>False for a DAG whose file was refused before any good version existed.</summary>
    [Id(2)] public bool Loaded { get; init; }
    [Id(3)] public string? Schedule { get; init; }
    [Id(4)] public string Timezone { get; init; } = "UTC";
    [Id(5)] public string? Description { get; init; }
    [Id(6)] public string? Owner { get; init; }
    [Id(7)] public ImmutableArray<string> Tags { get; init; } = [];
    [Id(8)] public ImmutableArray<string> LoadErrors { get; init; } = [];
    [Id(9)] public DateTimeOffset? NextRunAt { get; init; }
    [Id(10)] public RunState? LastRunState { get; init; }
    [Id(11)] public int ActiveRuns { get; init; }
    [Id(12)] public int QueuedRuns { get; init; }
    /// <summary>Newest first, at most <see cref="RecentRunsShown"/>.</summary>
    [Id(13)] public ImmutableArray<RunSummary> RecentRuns { get; init; } = [];

    public static DagSummary From(DagInfo info)
    {
        ArgumentNullException.ThrowIfNull(info);
        return new DagSummary
        {
            DagId = info.DagId,
            Paused = info.Paused,
            Loaded = info.Definition is not null,
            Schedule = info.Definition?.Schedule,
            Timezone = info.Definition?.Timezone ?? "UTC",
            Description = info.Definition?.Description,
            Owner = info.Definition?.Owner,
            Tags = info.Definition?.Tags ?? [],
            LoadErrors = info.LoadErrors,
            NextRunAt = info.NextRunAt,
            LastRunState = info.LastRunState,
            ActiveRuns = info.ActiveRuns,
            QueuedRuns = info.QueuedRuns,
            RecentRuns = [.. info.RecentRuns.Take(RecentRunsShown)],
        };
    }

    /// <summary>Same list row: arrays compared by their items (so that an unchanged DAG is not sent again).</summary>
    public bool Equals(DagSummary? other) =>
        other is not null && DagId == other.DagId && Paused == other.Paused && Loaded == other.Loaded && Schedule == other.Schedule
        && Timezone == other.Timezone && Description == other.Description && Owner == other.Owner && NextRunAt == other.NextRunAt
        && LastRunState == other.LastRunState && ActiveRuns == other.ActiveRuns && QueuedRuns == other.QueuedRuns
        && Tags.SequenceEqual(other.Tags) && LoadErrors.SequenceEqual(other.LoadErrors) && RecentRuns.SequenceEqual(other.RecentRuns);

    public override int GetHashCode() => HashCode.Combine(DagId, Paused, LastRunState, ActiveRuns, QueuedRuns, NextRunAt);
}

/// <summary>Which DAGs a list wants, and from where: filters, all optional, and a page.</summary>
[GenerateSerializer, Immutable]
public sealed record DagQuery
{
    /// <summary>Only DAGs with this tag (exact).</summary>
    [Id(0)] public string? Tag { get; init; }
    /// <summary>Only DAGs of this owner (exact).</summary>
    [Id(1)] public string? Owner { get; init; }
    /// <summary>Only DAGs whose newest run is in this state.</summary>
    [Id(2)] public RunState? LastRunState { get; init; }
    /// <summary>Only DAGs that have never run (with <see cref="LastRunState"/> null).</summary>
    [Id(3)] public bool NeverRun { get; init; }
    /// <summary>Case-insensitive text found in the id, description, owner or a tag.</summary>
    [Id(4)] public string? Search { get; init; }
    [Id(5)] public bool? Paused { get; init; }
    /// <summary>Only DAGs with a run active now.</summary>
    [Id(6)] public bool Running { get; init; }
    /// <summary>Only ids after this one (ordinal): the position a cursor stands for.</summary>
    [Id(7)] public string? After { get; init; }
    /// <summary>At most this many items; null for all.</summary>
    [Id(8)] public int? Limit { get; init; }
    /// <summary>Matches skipped (after <see cref="After"/>) before the page starts: for a numbered page, as a pager asks.</summary>
    [Id(9)] public int Offset { get; init; }
    /// <summary>
    /// The caller's tags when its key is limited to them: DAGs without any of them are left out of everything,
    /// counts included, as if they did not exist. Empty for a key that sees every DAG.
    /// </summary>
    [Id(10)] public ImmutableArray<string> VisibleTags { get; init; } = [];
}

/// <summary>A page of DAGs by id, with counts computed over every DAG.</summary>
[GenerateSerializer, Immutable]
public sealed record DagPage
{
    [Id(0)] public ImmutableArray<DagSummary> Items { get; init; } = [];
    /// <summary>The id the next page starts after, or null when this page is the last.</summary>
    [Id(1)] public string? NextAfter { get; init; }
    /// <summary>DAGs matching the filters (all pages).</summary>
    [Id(2)] public int Matching { get; init; }
    /// <summary>Every DAG.</summary>
    [Id(3)] public int Total { get; init; }
    /// <summary>DAGs with a run active now, of every DAG.</summary>
    [Id(4)] public int Running { get; init; }
    /// <summary>Paused DAGs, of every DAG.</summary>
    [Id(5)] public int Paused { get; init; }
}

/// <summary>A value a list can be filtered by and the DAGs that have it.</summary>
[GenerateSerializer, Immutable]
public sealed record FacetCount([property: Id(0)] string Value, [property: Id(1)] int Count);

/// <summary>The tags and owners of every DAG, with how many DAGs have each (for filter menus).</summary>
[GenerateSerializer, Immutable]
public sealed record DagFacets
{
    [Id(0)] public ImmutableArray<FacetCount> Tags { get; init; } = [];
    [Id(1)] public ImmutableArray<FacetCount> Owners { get; init; } = [];
}
