using System.Collections.Immutable;

namespace Batchyard.Dags;

/// <summary>One validated version of a DAG file: everything a run needs, frozen when the run starts.</summary>
[GenerateSerializer, Immutable]
public sealed record DagDefinition
{
    /// <summary>The DAG id: <c>^[a-z0-9][a-z0-9_-]{0,62}$</c>.</summary>
    [Id(0)] public required string DagId { get; init; }
    [Id(1)] public string? Description { get; init; }
    [Id(2)] public string? Owner { get; init; }
    [Id(3)] public ImmutableArray<string> Tags { get; init; } = [];
    /// <summary>Cron text as written (5 or 6 fields, or a macro such as <c>@daily</c>); null for manual-only DAGs.</summary>
    [Id(4)] public string? Schedule { get; init; }
    /// <summary>IANA time zone the schedule is read in.</summary>
    [Id(5)] public string Timezone { get; init; } = "UTC";
    [Id(6)] public bool Catchup { get; init; }
    [Id(7)] public int MaxActiveRuns { get; init; } = 16;
    /// <summary>Default values for <c>{{ params.NAME }}</c>.</summary>
    [Id(8)] public ImmutableDictionary<string, string> Params { get; init; } = ImmutableDictionary<string, string>.Empty;
    [Id(9)] public NotifySettings Notify { get; init; } = new();
    /// <summary>Tasks in file order, with defaults applied and <c>flow</c> folded into <see cref="TaskDefinition.Upstream"/>.</summary>
    [Id(10)] public ImmutableArray<TaskDefinition> Tasks { get; init; } = [];
    /// <summary>File name the DAG came from (for messages), e.g. <c>daily.yaml</c>.</summary>
    [Id(11)] public string SourceFile { get; init; } = "";
    /// <summary>The file's text, shown by the API and dashboard.</summary>
    [Id(12)] public string SourceText { get; init; } = "";
    /// <summary>A short hash of the source text, so that a run can say which version it ran.</summary>
    [Id(13)] public string Version { get; init; } = "";
    /// <summary>The DAG's monthly cost budget (<c>budget:</c>); null when it has none.</summary>
    [Id(70)] public BudgetSettings? Budget { get; init; }
    /// <summary>Datasets (<c>on_datasets:</c>) whose updates start a <c>dataset</c> run once every one of them was updated.</summary>
    [Id(60)] public ImmutableArray<string> OnDatasets { get; init; } = [];
    /// <summary>The run's deadline (<c>deadline: { within, after }</c>); null when it has none.</summary>
    [Id(80)] public DeadlineSettings? Deadline { get; init; }

    public TaskDefinition? FindTask(string taskId)
    {
        foreach (var task in Tasks)
        {
            if (task.TaskId == taskId)
            {
                return task;
            }
        }
        return null;
    }
}

/// <summary>
/// <c>budget: { monthly_usd, pause_on_exceed }</c>: the DAG's attempts of a calendar month (in its time zone) may cost this much;
/// <c>notify.on_budget</c> hears at 80 % and 100 %, and the schedule pauses at 100 % when asked to.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record BudgetSettings
{
    [Id(0)] public decimal MonthlyUsd { get; init; }
    [Id(1)] public bool PauseOnExceed { get; init; }
}

/// <summary>
/// <c>deadline: { within: 2h, after: logical_date | queued }</c>: a run not finished <see cref="Within"/> after its
/// logical date (or after it was queued) is late. It is only marked and notified, never stopped.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record DeadlineSettings
{
    [Id(0)] public TimeSpan Within { get; init; }
    [Id(1)] public DeadlineAnchor After { get; init; } = DeadlineAnchor.LogicalDate;
}

/// <summary>What a DAG's deadline is measured from.</summary>
public enum DeadlineAnchor
{
    /// <summary>The run's logical date: the slot of a scheduled run, the moment of a dataset run. Manual and backfill runs measure from when they were queued.</summary>
    LogicalDate,
    /// <summary>When the run was queued (created).</summary>
    Queued,
}

[GenerateSerializer, Immutable]
public sealed record NotifySettings
{
    [Id(0)] public ImmutableArray<string> OnFailure { get; init; } = [];
    [Id(1)] public ImmutableArray<string> OnSuccess { get; init; } = [];
    /// <summary>An attempt failed and the task will be tried again.</summary>
    [Id(2)] public ImmutableArray<string> OnRetry { get; init; } = [];
    /// <summary>A run or task passed its deadline unfinished.</summary>
    [Id(3)] public ImmutableArray<string> OnLate { get; init; } = [];
    /// <summary>The DAG's month passed 80 % or 100 % of its budget.</summary>
    [Id(4)] public ImmutableArray<string> OnBudget { get; init; } = [];

    /// <summary>The notifiers named for one of <see cref="Batchyard.Grains.NotifyEvents"/>.</summary>
    public ImmutableArray<string> For(string notifyEvent) => notifyEvent switch
    {
        Batchyard.Grains.NotifyEvents.OnFailure => OnFailure,
        Batchyard.Grains.NotifyEvents.OnSuccess => OnSuccess,
        Batchyard.Grains.NotifyEvents.OnRetry => OnRetry,
        Batchyard.Grains.NotifyEvents.OnLate => OnLate,
        Batchyard.Grains.NotifyEvents.OnBudget => OnBudget,
        _ => [],
    };
}

/// <summary>One task of a DAG, after the DAG's <c>defaults</c> were applied.</summary>
[GenerateSerializer, Immutable]
public sealed record TaskDefinition
{
    [Id(0)] public required string TaskId { get; init; }
    /// <summary>Backend name: <c>sagemaker</c>, <c>sagemaker-training</c>, <c>local</c> or <c>noop</c>.</summary>
    [Id(1)] public string Backend { get; init; } = "local";
    [Id(2)] public string? Image { get; init; }
    [Id(3)] public ImmutableArray<string> Command { get; init; } = [];
    [Id(4)] public ImmutableArray<string> Args { get; init; } = [];
    [Id(5)] public ImmutableDictionary<string, string> Env { get; init; } = ImmutableDictionary<string, string>.Empty;
    /// <summary>Working directory for the local backend (relative paths resolve against the DAGs folder).</summary>
    [Id(6)] public string? WorkingDir { get; init; }
    [Id(7)] public TaskResources Resources { get; init; } = new();
    [Id(8)] public int Retries { get; init; }
    [Id(9)] public TimeSpan RetryDelay { get; init; } = TimeSpan.FromSeconds(30);
    [Id(10)] public double RetryBackoff { get; init; } = 1.0;
    [Id(11)] public TimeSpan? MaxRetryDelay { get; init; }
    [Id(12)] public TimeSpan? Timeout { get; init; }
    [Id(13)] public string Pool { get; init; } = "default";
    [Id(14)] public TriggerRule TriggerRule { get; init; } = TriggerRule.AllSuccess;
    /// <summary>Direct upstream task ids, from <c>depends_on</c> and every <c>flow</c> (deduplicated, sorted).</summary>
    [Id(15)] public ImmutableArray<string> Upstream { get; init; } = [];
    /// <summary>SageMaker Processing inputs, or Training input channels.</summary>
    [Id(16)] public ImmutableArray<DataChannel> Inputs { get; init; } = [];
    /// <summary>SageMaker Processing outputs.</summary>
    [Id(17)] public ImmutableArray<DataChannel> Outputs { get; init; } = [];
    /// <summary>SageMaker Training hyperparameters.</summary>
    [Id(18)] public ImmutableDictionary<string, string> Hyperparameters { get; init; } = ImmutableDictionary<string, string>.Empty;
    /// <summary>SageMaker Training <c>OutputDataConfig.S3OutputPath</c>.</summary>
    [Id(19)] public string? OutputPath { get; init; }
    /// <summary>Line of the task's key in the DAG file (for messages at run time).</summary>
    [Id(20)] public int Line { get; init; }
    /// <summary>When set, the task runs once per item of a list (<c>map:</c>).</summary>
    [Id(21)] public MapSpec? Map { get; init; }
    /// <summary>A condition (<c>when:</c>) evaluated when the task becomes ready; false skips the task.</summary>
    [Id(22)] public string? When { get; init; }
    /// <summary>SageMaker: the S3 object (<c>s3://bucket/key</c>, a template) read after success as the attempt's output.</summary>
    [Id(23)] public string? OutputJson { get; init; }
    /// <summary>SageMaker Training: where spot training keeps its checkpoints (<c>CheckpointConfig.S3Uri</c>).</summary>
    [Id(30)] public string? CheckpointS3 { get; init; }
    /// <summary>Datasets (<c>produces:</c>) a success of this task updates (a mapped task: once, when it succeeds as a whole).</summary>
    [Id(60)] public ImmutableArray<string> Produces { get; init; } = [];
    /// <summary>The task is late when it has not finished this long after its first start (since its last clear); null: no deadline.</summary>
    [Id(80)] public TimeSpan? Deadline { get; init; }
}

/// <summary>How a mapped task expands into task instances.</summary>
[GenerateSerializer, Immutable]
public sealed record MapSpec
{
    /// <summary>The most instances one mapped task may have in a run.</summary>
    public const int MaxInstances = 10_000;

    /// <summary>Items written as a YAML list in the file, each as JSON text; empty when <see cref="Over"/> is set.</summary>
    [Id(0)] public ImmutableArray<string> Items { get; init; } = [];
    /// <summary>A template that renders to a JSON list (a param holding one, or an upstream task's output).</summary>
    [Id(1)] public string? Over { get; init; }
    /// <summary>Instances of this task that may be active (queued, running or waiting to retry) at once; null: no cap.</summary>
    [Id(2)] public int? MaxActive { get; init; }
}

/// <summary>Compute a task asks for. SageMaker reads the instance fields; the local backend reads memory, cpus and gpus.</summary>
[GenerateSerializer, Immutable]
public sealed record TaskResources
{
    [Id(0)] public string? InstanceType { get; init; }
    [Id(1)] public int? InstanceCount { get; init; }
    [Id(2)] public int? VolumeGb { get; init; }
    [Id(3)] public int? MemoryMb { get; init; }
    [Id(4)] public double? Cpus { get; init; }
    /// <summary>Whole GPUs of the host a local job holds exclusively while it runs; null: none.</summary>
    [Id(5)] public int? Gpus { get; init; }
    /// <summary>SageMaker Training: run as a managed spot training job.</summary>
    [Id(10)] public bool? Spot { get; init; }
    /// <summary>SageMaker Training with spot: how long to wait for spot capacity and run, in all (<c>MaxWaitTimeInSeconds</c>).</summary>
    [Id(11)] public TimeSpan? MaxWait { get; init; }
    /// <summary>SageMaker Training: how long the instances stay warm after the job for a matching job to reuse (<c>KeepAlivePeriodInSeconds</c>).</summary>
    [Id(12)] public TimeSpan? KeepAlive { get; init; }
}

/// <summary>An S3 location bound to a container path (Processing) or a named channel (Training).</summary>
[GenerateSerializer, Immutable]
public sealed record DataChannel
{
    [Id(0)] public required string Name { get; init; }
    [Id(1)] public required string S3Uri { get; init; }
    /// <summary>Container path, e.g. <c>/opt/ml/processing/input</c>; Processing only.</summary>
    [Id(2)] public string? LocalPath { get; init; }
}

/// <summary>When a task may run, given its direct upstream tasks' final states (Airflow's trigger rules).</summary>
public enum TriggerRule
{
    AllSuccess,
    AllDone,
    AllFailed,
    OneSuccess,
    OneFailed,
    NoneFailed,
}
