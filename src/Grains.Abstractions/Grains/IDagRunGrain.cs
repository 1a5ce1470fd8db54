using System.Collections.Immutable;
using Batchyard.Dags;
using Batchyard.Runs;
using Orleans.Concurrency;

namespace Batchyard.Grains;

/// <summary>Everything a run needs to start, frozen at trigger time.</summary>
[GenerateSerializer, Immutable]
public sealed record RunStart
{
    [Id(0)] public required DagDefinition Dag { get; init; }
    [Id(1)] public required string RunId { get; init; }
    [Id(2)] public DateTimeOffset LogicalDate { get; init; }
    [Id(3)] public ImmutableDictionary<string, string> Params { get; init; } = ImmutableDictionary<string, string>.Empty;
    [Id(4)] public string RunType { get; init; } = "manual";
    /// <summary>False: the run waits in <c>queued</c> until <see cref="IDagRunGrain.BeginAsync"/>.</summary>
    [Id(5)] public bool StartNow { get; init; } = true;
    /// <summary>The key name of a manual trigger, or <see cref="RunStart.Schedule"/>.</summary>
    [Id(6)] public string? TriggeredBy { get; init; }
    /// <summary>A <c>dataset</c> run: the updates that started it.</summary>
    [Id(60)] public ImmutableArray<Batchyard.Datasets.DatasetUpdate> TriggeringDatasets { get; init; } = [];
    /// <summary>
    /// A cron slot made ahead of its instant (<c>Batchyard:Scheduling:Lead</c>): the run is made and admitted now
    /// and waits in <c>queued</c> until then, when an in-memory timer begins it (its wake reminder, after a crash).
    /// </summary>
    [Id(61)] public DateTimeOffset? StartAt { get; init; }

    /// <summary>The <c>triggeredBy</c> of the runs the cron schedule makes.</summary>
    public const string Schedule = "schedule";

    /// <summary>The <c>triggeredBy</c> of the runs dataset updates make.</summary>
    public const string Datasets = "datasets";
}

/// <summary>One DAG run, keyed <c>{dagId}/{runId}</c>: starts each task when its upstream allows it.</summary>
public interface IDagRunGrain : IGrainWithStringKey
{
    /// <summary>Creates the run; returns null when a run with this key already exists.</summary>
    Task<RunDetails?> CreateAsync(RunStart start);

    /// <summary>Moves a queued run to running (admitted under <c>max_active_runs</c>); one made ahead of its slot begins at the slot.</summary>
    Task BeginAsync();

    /// <summary>
    /// Cancels a run made ahead of its slot that has not begun (its DAG was paused or deleted before the slot);
    /// false, and nothing changes, for any other run.
    /// </summary>
    Task<bool> WithdrawAsync();

    /// <summary>
    /// The instant of a run made ahead of its slot has come (the silo's slot clock): the run begins, when it is
    /// admitted, and answers true; it starts its tasks on <see cref="GoOnAtSlotAsync"/>, or by itself a while later.
    /// </summary>
    Task<bool> BeginAtSlotAsync();

    /// <summary>A run the slot clock began starts its tasks (every run of its slot on the silo has begun); nothing for any other.</summary>
    Task GoOnAtSlotAsync();

    /// <summary>The run with every task instance and attempt, or null when it does not exist (a read: it never waits behind a write).</summary>
    [AlwaysInterleave]
    Task<RunDetails?> GetAsync();

    /// <summary>The state of one task instance (a pool asks whether its holders still run); null when unknown.</summary>
    [AlwaysInterleave]
    Task<TaskState?> GetTaskStateAsync(string taskId);

    /// <summary>Cancels the run: stops every running job and marks unfinished tasks cancelled.</summary>
    Task<RunDetails> CancelAsync();

    /// <summary>Reruns a task and everything downstream of it.</summary>
    Task<RunDetails> ClearTaskAsync(string taskId, int? mapIndex = null);

    /// <summary>Pushes every change of this run to <paramref name="observer"/> for a minute; watchers renew before then.</summary>
    Task WatchAsync(IRunObserver observer);

    /// <summary>Stops pushing changes to <paramref name="observer"/>.</summary>
    Task UnwatchAsync(IRunObserver observer);

    /// <summary>
    /// Picks the run up again after a restart, a failover or a lost message: orders every unfinished attempt's
    /// job supervisor again (they re-attach, never double), re-sends owed stops and starts what became ready.
    /// </summary>
    Task ResumeAsync();

    /// <summary>The pool has granted the task a slot it waited for.</summary>
    [OneWay]
    Task OnPoolSlotAsync(string taskId);
}

public static class RunKeys
{
    public static string Run(string dagId, string runId) => $"{dagId}/{runId}";

    public static string Task(string dagId, string runId, string taskId) => $"{dagId}/{runId}/{taskId}";

    public static (string DagId, string RunId) ParseRun(string key)
    {
        var slash = key.IndexOf('/', StringComparison.Ordinal);
        return (key[..slash], key[(slash + 1)..]);
    }

    public static (string DagId, string RunId, string TaskId) ParseTask(string key)
    {
        var first = key.IndexOf('/', StringComparison.Ordinal);
        var last = key.LastIndexOf('/');
        return (key[..first], key[(first + 1)..last], key[(last + 1)..]);
    }
}
