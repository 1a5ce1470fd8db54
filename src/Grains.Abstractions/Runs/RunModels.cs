using System.Collections.Immutable;

namespace Batchyard.Runs;

/// <summary>One attempt of a task: one job on its backend.</summary>
[GenerateSerializer, Immutable]
public sealed record AttemptDetails
{
    [Id(0)] public int Attempt { get; init; }
    [Id(1)] public AttemptState State { get; init; }
    /// <summary>The backend's job id (SageMaker job name, local cgroup job name).</summary>
    [Id(2)] public string? JobId { get; init; }
    [Id(3)] public DateTimeOffset QueuedAt { get; init; }
    [Id(4)] public DateTimeOffset? StartedAt { get; init; }
    [Id(5)] public DateTimeOffset? EndedAt { get; init; }
    [Id(6)] public int? ExitCode { get; init; }
    [Id(7)] public string? Reason { get; init; }
    [Id(8)] public string Backend { get; init; } = "";
    /// <summary>Backend facts worth keeping (billable seconds, secondary status, OOM kills).</summary>
    [Id(9)] public ImmutableDictionary<string, string> Details { get; init; } = ImmutableDictionary<string, string>.Empty;
    /// <summary>The job's output (one JSON object of at most 64 KiB) when the attempt succeeded and the job wrote one.</summary>
    [Id(10), System.Text.Json.Serialization.JsonConverter(typeof(RawJsonTextConverter))] public string? Output { get; init; }
    /// <summary>What the attempt cost, worked out when it ended from what its backend reported; null while it runs (and for attempts that ended before costs were kept).</summary>
    [Id(11)] public AttemptCost? Cost { get; init; }
}

/// <summary>What one attempt cost and why.</summary>
[GenerateSerializer, Immutable]
public sealed record AttemptCost
{
    /// <summary>US dollars; null when there is no price for what it ran on (an unknown instance type).</summary>
    [Id(0)] public decimal? Usd { get; init; }
    /// <summary>Compute it used: instance-seconds for SageMaker (seconds × instance count), cpu-seconds for a local job.</summary>
    [Id(1)] public double ComputeSeconds { get; init; }
    /// <summary>How the figure was reached, in words, e.g. <c>1 x ml.m5.xlarge, 360 s at 0.23 USD/h</c>.</summary>
    [Id(2)] public string Basis { get; init; } = "";
    /// <summary>What it ran on, for grouping: the SageMaker instance type, or the backend's name (<c>local</c>, <c>noop</c>).</summary>
    [Id(3)] public string InstanceType { get; init; } = "";

    /// <summary>The sum of the priced costs among <paramref name="costs"/>; null when none is priced.</summary>
    public static decimal? Sum(IEnumerable<AttemptCost?> costs)
    {
        decimal? total = null;
        foreach (var cost in costs)
        {
            if (cost?.Usd is { } usd)
            {
                total = (total ?? 0m) + usd;
            }
        }
        return total;
    }
}

/// <summary>A task instance in a run, with every attempt it made.</summary>
[GenerateSerializer, Immutable]
public sealed record TaskInstanceDetails
{
    [Id(0)] public required string TaskId { get; init; }
    [Id(1)] public TaskState State { get; init; }
    [Id(2)] public ImmutableArray<AttemptDetails> Attempts { get; init; } = [];
    /// <summary>When a retry is due (state <c>up_for_retry</c>).</summary>
    [Id(3)] public DateTimeOffset? NextAttemptAt { get; init; }
    [Id(4)] public ImmutableArray<string> Upstream { get; init; } = [];
    [Id(5)] public string Backend { get; init; } = "";
    /// <summary>An instance of a mapped task: its index (0…n−1). Null for a task that is not mapped, and for a mapped task's own entry, which sums up its instances.</summary>
    [Id(6)] public int? MapIndex { get; init; }
    /// <summary>A mapped task's own entry: how many instances it expanded into (null before it expanded, and on other entries).</summary>
    [Id(7)] public int? MapCount { get; init; }
    /// <summary>The task passed its <c>deadline</c> unfinished (it stays late; nothing was stopped).</summary>
    [Id(80)] public bool Late { get; init; }
}

/// <summary>A DAG run with every task instance and attempt.</summary>
[GenerateSerializer, Immutable]
public sealed record RunDetails
{
    [Id(0)] public required string DagId { get; init; }
    [Id(1)] public required string RunId { get; init; }
    [Id(2)] public RunState State { get; init; }
    [Id(3)] public DateTimeOffset LogicalDate { get; init; }
    [Id(4)] public ImmutableDictionary<string, string> Params { get; init; } = ImmutableDictionary<string, string>.Empty;
    [Id(5)] public DateTimeOffset QueuedAt { get; init; }
    [Id(6)] public DateTimeOffset? StartedAt { get; init; }
    [Id(7)] public DateTimeOffset? EndedAt { get; init; }
    /// <summary><c>scheduled</c> or <c>manual</c>.</summary>
    [Id(8)] public string RunType { get; init; } = "manual";
    /// <summary>Version (source hash) of the DAG the run executes.</summary>
    [Id(9)] public string DagVersion { get; init; } = "";
    [Id(10)] public ImmutableArray<TaskInstanceDetails> Tasks { get; init; } = [];
    /// <summary>Who started the run: the name of the API key of a manual trigger, <c>schedule</c> for a cron run; null for runs made before it was kept.</summary>
    [Id(11)] public string? TriggeredBy { get; init; }
    /// <summary>What the run cost so far: the sum of its attempts' priced costs; null when none is priced.</summary>
    [Id(12)] public decimal? CostUsd { get; init; }
    /// <summary>A <c>dataset</c> run: the updates that started it (<c>{{ triggering_datasets }}</c>).</summary>
    [Id(60)] public ImmutableArray<Batchyard.Datasets.DatasetUpdate> TriggeringDatasets { get; init; } = [];
    /// <summary>The run passed its DAG's <c>deadline</c> unfinished (it stays late; nothing was stopped).</summary>
    [Id(80)] public bool Late { get; init; }

    /// <summary>The sum of the priced costs of every attempt of <paramref name="tasks"/>.</summary>
    public static decimal? SumCost(IEnumerable<TaskInstanceDetails> tasks) => AttemptCost.Sum(tasks.SelectMany(t => t.Attempts).Select(a => a.Cost));
}

/// <summary>A run without its tasks, for lists.</summary>
[GenerateSerializer, Immutable]
public sealed record RunSummary
{
    [Id(0)] public required string DagId { get; init; }
    [Id(1)] public required string RunId { get; init; }
    [Id(2)] public RunState State { get; init; }
    [Id(3)] public DateTimeOffset LogicalDate { get; init; }
    [Id(4)] public DateTimeOffset QueuedAt { get; init; }
    [Id(5)] public DateTimeOffset? StartedAt { get; init; }
    [Id(6)] public DateTimeOffset? EndedAt { get; init; }
    [Id(7)] public string RunType { get; init; } = "manual";
    /// <summary>What the run cost so far (as <see cref="RunDetails.CostUsd"/>).</summary>
    [Id(8)] public decimal? CostUsd { get; init; }
    /// <summary>As <see cref="RunDetails.Late"/>.</summary>
    [Id(80)] public bool Late { get; init; }

    public static RunSummary From(RunDetails run) => new()
    {
        DagId = run.DagId,
        RunId = run.RunId,
        State = run.State,
        LogicalDate = run.LogicalDate,
        QueuedAt = run.QueuedAt,
        StartedAt = run.StartedAt,
        EndedAt = run.EndedAt,
        RunType = run.RunType,
        CostUsd = run.CostUsd,
        Late = run.Late,
    };
}

/// <summary>A request to start a run by hand.</summary>
[GenerateSerializer, Immutable]
public sealed record TriggerRequest
{
    [Id(0)] public ImmutableDictionary<string, string> Params { get; init; } = ImmutableDictionary<string, string>.Empty;
    /// <summary>The slot the run stands for; defaults to now.</summary>
    [Id(1)] public DateTimeOffset? LogicalDate { get; init; }
    /// <summary>The name of the key that asks (kept as the run's <c>triggeredBy</c>).</summary>
    [Id(2)] public string? TriggeredBy { get; init; }
}
