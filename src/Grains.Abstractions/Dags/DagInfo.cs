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
    /// <summary>The month's spend against <c>budget:</c>; null when the DAG has no budget.</summary>
    [Id(70)] public BudgetStatus? Budget { get; init; }
}

/// <summary>What a DAG with a budget has spent in its current calendar month (in the DAG's time zone), as of its last run's end.</summary>
[GenerateSerializer, Immutable]
public sealed record BudgetStatus
{
    [Id(0)] public decimal MonthlyUsd { get; init; }
    [Id(1)] public bool PauseOnExceed { get; init; }
    /// <summary><c>yyyy-MM</c>, in the DAG's time zone.</summary>
    [Id(2)] public required string Month { get; init; }
    /// <summary>The cost of the DAG's attempts that ended this month (priced ones; unpriced count nothing).</summary>
    [Id(3)] public decimal SpentUsd { get; init; }
    /// <summary>The thresholds (80, 100) notified this month.</summary>
    [Id(4)] public ImmutableArray<int> Notified { get; init; } = [];
    /// <summary>True when the budget paused the schedule this month.</summary>
    [Id(5)] public bool PausedByBudget { get; init; }
    /// <summary>When the spend was last summed.</summary>
    [Id(6)] public DateTimeOffset? CheckedAt { get; init; }

    /// <summary>Spent as a share of the budget, in percent (rounded to one decimal).</summary>
    public decimal Percent => MonthlyUsd <= 0 ? 0 : Math.Round(SpentUsd * 100m / MonthlyUsd, 1);
}
