using System.Collections.Immutable;
using Batchyard.Runs;

namespace Batchyard.Dags;

/// <summary>A DAG's current version and its scheduling state.</summary>
[GenerateSerializer, Immutable]
public sealed record DagInfo
{
    [Id(0)] public required string DagId { get; init; }
    [Id(1)] public bool Paused { get; init; }
    [Id(2)] public DagDefinition? Definition { get; init; }
    [Id(3)] public DateTimeOffset? NextRunAt { get; init; }
    [Id(4)] public RunState? LastRunState { get; init; }
    /// <summary>Newest runs first, a handful for summaries.</summary>
    [Id(5)] public ImmutableArray<RunSummary> RecentRuns { get; init; } = [];
    /// <summary>Why the newest file for this DAG was refused (the last good version keeps running).</summary>
    [Id(6)] public ImmutableArray<string> LoadErrors { get; init; } = [];
    [Id(7)] public DateTimeOffset? UpdatedAt { get; init; }
    [Id(8)] public int ActiveRuns { get; init; }
    [Id(9)] public int QueuedRuns { get; init; }
    [Id(10)] public bool Deleted { get; init; }
    /// <summary>Load warnings: datasets this DAG consumes that no task produces (as of when it was applied).</summary>
    [Id(60)] public ImmutableArray<string> Warnings { get; init; } = [];
    /// <summary>The consumed datasets that have an update waiting for the others (the next dataset run's half-made trigger).</summary>
    [Id(61)] public ImmutableArray<Batchyard.Datasets.DatasetUpdate> PendingDatasets { get; init; } = [];
}
