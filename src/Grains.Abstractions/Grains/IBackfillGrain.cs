using System.Collections.Immutable;
using Orleans.Concurrency;

namespace Batchyard.Grains;

/// <summary>What a backfill does with a slot that has a run already.</summary>
public enum BackfillReprocess
{
    /// <summary>Leaves it alone (counted skipped).</summary>
    Missing,
    /// <summary>Clears the failed tasks of a failed run; leaves other runs alone.</summary>
    Failed,
    /// <summary>Clears every task of a finished run.</summary>
    All,
}

/// <summary>Where a backfill stands.</summary>
public enum BackfillState
{
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

/// <summary>What a user asks for: the cron slots in [<see cref="From"/>, <see cref="To"/>] of a DAG.</summary>
[GenerateSerializer, Immutable]
public sealed record BackfillRequest
{
    [Id(0)] public DateTimeOffset From { get; init; }
    [Id(1)] public DateTimeOffset To { get; init; }
    [Id(2)] public BackfillReprocess Reprocess { get; init; }
    /// <summary>Null: the DAG's own <c>max_active_runs</c>.</summary>
    [Id(3)] public int? MaxActiveRuns { get; init; }
    [Id(4)] public bool Backwards { get; init; }
    [Id(5)] public string? CreatedBy { get; init; }
}

/// <summary>A backfill frozen at creation: its slots come from this cron and time zone whatever the DAG becomes.</summary>
[GenerateSerializer, Immutable]
public sealed record BackfillPlan
{
    [Id(0)] public required string DagId { get; init; }
    [Id(1)] public required string BackfillId { get; init; }
    [Id(2)] public required BackfillRequest Request { get; init; }
    [Id(3)] public required string Cron { get; init; }
    [Id(4)] public required string Timezone { get; init; }
    [Id(5)] public int MaxActiveRuns { get; init; }
    [Id(6)] public int Total { get; init; }
    [Id(7)] public DateTimeOffset CreatedAt { get; init; }
}

/// <summary>A backfill and its progress.</summary>
[GenerateSerializer, Immutable]
public sealed record BackfillInfo
{
    [Id(0)] public required string BackfillId { get; init; }
    [Id(1)] public required string DagId { get; init; }
    [Id(2)] public DateTimeOffset From { get; init; }
    [Id(3)] public DateTimeOffset To { get; init; }
    [Id(4)] public BackfillReprocess Reprocess { get; init; }
    [Id(5)] public int MaxActiveRuns { get; init; }
    [Id(6)] public bool Backwards { get; init; }
    [Id(7)] public BackfillState State { get; init; }
    /// <summary>Slots in the range.</summary>
    [Id(8)] public int Total { get; init; }
    /// <summary>Runs this backfill made or cleared.</summary>
    [Id(9)] public int Created { get; init; }
    [Id(10)] public int Running { get; init; }
    [Id(11)] public int Succeeded { get; init; }
    /// <summary>Runs that failed or were cancelled.</summary>
    [Id(12)] public int Failed { get; init; }
    /// <summary>Slots left alone because they had a run.</summary>
    [Id(13)] public int Skipped { get; init; }
    [Id(14)] public DateTimeOffset CreatedAt { get; init; }
    [Id(15)] public DateTimeOffset? EndedAt { get; init; }
    [Id(16)] public string? CreatedBy { get; init; }
}

/// <summary>What the DAG grain did with a backfill's slot.</summary>
public enum SlotOutcome
{
    /// <summary>A new <c>backfill__</c> run was made for the slot.</summary>
    Created,
    /// <summary>The slot has a run that is left alone.</summary>
    Skipped,
    /// <summary>The slot has a finished run the backfill now owns and must clear (<see cref="SlotClaim.ClearTasks"/>).</summary>
    Reprocess,
}

/// <summary>The DAG grain's answer to <see cref="IDagGrain.ClaimSlotAsync"/>.</summary>
[GenerateSerializer, Immutable]
public sealed record SlotClaim
{
    [Id(0)] public SlotOutcome Outcome { get; init; }
    [Id(1)] public string? RunId { get; init; }
    /// <summary>The tasks to clear (each with its downstream) when reprocessing.</summary>
    [Id(2)] public ImmutableArray<string> ClearTasks { get; init; } = [];
}

/// <summary>A manual trigger named a logical date that already has a run (one run per logical date).</summary>
[GenerateSerializer]
public sealed class RunExistsException : Exception
{
    public RunExistsException()
    {
    }

    public RunExistsException(string message) : base(message)
    {
    }

    public RunExistsException(string message, Exception inner) : base(message, inner)
    {
    }

    public RunExistsException(string runId, DateTimeOffset logicalDate)
        : base($"the logical date {logicalDate.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture)} already has the run {runId}") => RunId = runId;

    [Id(0)] public string? RunId { get; init; }
}

/// <summary>One backfill, keyed <c>{dagId}/{backfillId}</c>: makes one run per slot, at most max_active_runs unfinished.</summary>
public interface IBackfillGrain : IGrainWithStringKey
{
    /// <summary>Starts the backfill (once; again returns it as it is). Its runs are made in the background.</summary>
    Task<BackfillInfo> StartAsync(BackfillPlan plan);

    /// <summary>The backfill, or null when there is none.</summary>
    [AlwaysInterleave]
    Task<BackfillInfo?> GetAsync();

    /// <summary>Makes no more runs and cancels its unfinished ones.</summary>
    Task<BackfillInfo> CancelAsync();

    /// <summary>One of its runs finished (the DAG grain tells, not waiting: the backfill calls the DAG grain in turn).</summary>
    [OneWay]
    Task OnRunFinishedAsync(string runId, Batchyard.Runs.RunState state);
}
