using System.Collections.Immutable;
using Batchyard.Dags;
using Batchyard.Events;
using Batchyard.Grains;
using Batchyard.History;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Batchyard.Runs;

/// <summary>What a run grain persists: the DAG snapshot it runs and the latest state of each task instance.</summary>
[GenerateSerializer]
public sealed class DagRunState
{
    [Id(0)] public DagDefinition? Dag { get; set; }
    [Id(1)] public string RunId { get; set; } = "";
    [Id(2)] public RunState State { get; set; }
    [Id(3)] public DateTimeOffset LogicalDate { get; set; }
    [Id(4)] public ImmutableDictionary<string, string> Params { get; set; } = ImmutableDictionary<string, string>.Empty;
    [Id(5)] public string RunType { get; set; } = "manual";
    [Id(6)] public DateTimeOffset QueuedAt { get; set; }
    [Id(7)] public DateTimeOffset? StartedAt { get; set; }
    [Id(8)] public DateTimeOffset? EndedAt { get; set; }
    [Id(9)] public Dictionary<string, TaskInstanceDetails> Tasks { get; set; } = new(StringComparer.Ordinal);
}

/// <summary>
/// One DAG run: starts each task the moment its upstream allows it (trigger rules), propagates skipped and
/// upstream_failed, and decides the run's outcome from its leaf tasks, as Airflow does. Task grains push
/// their changes here; a reminder wakes the run while it is active so that nothing waits on a lost message.
/// </summary>
public sealed partial class DagRunGrain(
    [PersistentState("run", StorageNames.Batchyard)] IPersistentState<DagRunState> store,
    IRunHistoryStore history,
    RunEvents events,
    Batchyard.Notifications.RunNotifier notifier,
    [Microsoft.Extensions.DependencyInjection.FromKeyedServices(BatchyardClock.Key)] TimeProvider time,
    ILogger<DagRunGrain> logger,
    IOptions<WakeOptions> wake) : Grain, IDagRunGrain, IRemindable
{
    /// <summary>The run's reminder; the failover resumer ticks it by hand to resume runs at once.</summary>
    public const string WakeReminder = "wake";
    private static readonly TimeSpan FlushDelay = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan HistoryRetryDelay = TimeSpan.FromSeconds(5);

    private TimeSpan WakePeriod => wake.Value.WakePeriod;

    private string _dagId = "";
    private string _runId = "";
    private Dictionary<string, List<string>> _downstream = new(StringComparer.Ordinal);
    private RunSummary? _lastSummary;
    private Orleans.Utilities.ObserverManager<IRunObserver>? _watchers;
    private bool _dirty;
    private IGrainTimer? _flushTimer;

    private DagRunState S => store.State;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        (_dagId, _runId) = RunKeys.ParseRun(this.GetPrimaryKeyString());
        IndexDownstream();
        if (S.Dag is not null && S.State == RunState.Running)
        {
            // Task changes are persisted lazily (see SaveAsync): the task grains have the latest word.
            await RefreshTasksAsync();
        }
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        // When the silo shuts down its storage may already be gone; nothing is lost by skipping the write:
        // the next activation re-reads the task grains, which hold their own state.
        if (_dirty && reason.ReasonCode != DeactivationReasonCode.ShuttingDown)
        {
            await SaveAsync();
        }
    }

    public async Task<RunDetails?> CreateAsync(RunStart start)
    {
        if (S.Dag is not null)
        {
            return null;
        }
        var now = time.GetUtcNow();
        S.Dag = start.Dag;
        S.RunId = start.RunId;
        S.LogicalDate = start.LogicalDate;
        S.Params = start.Params;
        S.RunType = start.RunType;
        S.QueuedAt = now;
        S.State = RunState.Queued;
        foreach (var task in start.Dag.Tasks)
        {
            S.Tasks[task.TaskId] = new TaskInstanceDetails { TaskId = task.TaskId, State = TaskState.Pending, Upstream = task.Upstream, Backend = task.Backend };
        }
        IndexDownstream();
        LogCreated(_dagId, _runId, start.StartNow);
        if (start.StartNow)
        {
            await BeginAsync();
        }
        else
        {
            await SaveAsync();
        }
        return Details();
    }

    public async Task BeginAsync()
    {
        if (S.Dag is null || S.State != RunState.Queued)
        {
            return;
        }
        S.State = RunState.Running;
        S.StartedAt = time.GetUtcNow();
        await this.RegisterOrUpdateReminder(WakeReminder, WakePeriod, WakePeriod);
        await ScheduleReadyTasksAsync();
    }

    public Task<RunDetails?> GetAsync() => Task.FromResult(S.Dag is null ? null : Details());

    public Task WatchAsync(IRunObserver observer)
    {
        _watchers ??= new(TimeSpan.FromMinutes(1), logger);
        _watchers.Subscribe(observer, observer);
        return Task.CompletedTask;
    }

    public Task UnwatchAsync(IRunObserver observer)
    {
        _watchers?.Unsubscribe(observer);
        return Task.CompletedTask;
    }

    public async Task<RunDetails> CancelAsync()
    {
        if (S.Dag is null)
        {
            throw new KeyNotFoundException($"run {_dagId}/{_runId} does not exist");
        }
        if (S.State.IsFinal())
        {
            return Details();
        }

        var started = new List<string>();
        foreach (var (taskId, task) in S.Tasks.ToList())
        {
            if (task.State.IsFinal())
            {
                continue;
            }
            if (task.State != TaskState.Pending)
            {
                started.Add(taskId);
            }
            S.Tasks[taskId] = task with { State = TaskState.Cancelled, NextAttemptAt = null };
        }
        LogCancelled(_dagId, _runId);
        // Cancelled and saved before any job is touched: from here on the run stays cancelled whatever happens.
        await FinishAsync(RunState.Cancelled);
        if (!await CancelTasksAsync(started))
        {
            // A task did not answer (its silo is failing over, or it is busy submitting): the wake-up asks again.
            await this.RegisterOrUpdateReminder(WakeReminder, WakePeriod, WakePeriod);
        }
        return Details();
    }

    /// <summary>Cancels the tasks; false when any of them could not be told.</summary>
    private async Task<bool> CancelTasksAsync(IEnumerable<string> taskIds)
    {
        var results = await Task.WhenAll(taskIds.Select(async id =>
        {
            try
            {
                await TaskGrain(id).CancelAsync();
                return true;
            }
            catch (Exception ex) when (ex is OrleansException or TimeoutException)
            {
                LogCancelFailed(_dagId, _runId, id, ex.Message);
                return false;
            }
        }));
        return results.All(r => r);
    }

    public async Task<RunDetails> ClearTaskAsync(string taskId)
    {
        if (S.Dag is null || !S.Tasks.ContainsKey(taskId))
        {
            throw new KeyNotFoundException($"task {taskId} is not in run {_dagId}/{_runId}");
        }

        var cleared = Downstream(taskId).ToList();
        await Task.WhenAll(cleared.Where(id => S.Tasks[id].State != TaskState.Pending).Select(id => TaskGrain(id).ClearAsync()));
        // The grains' own snapshots carry the sequence of the clear, so a report sent before it is recognised as stale.
        var fresh = await Task.WhenAll(cleared.Select(id => TaskGrain(id).GetAsync()));
        for (var i = 0; i < cleared.Count; i++)
        {
            S.Tasks[cleared[i]] = (fresh[i] ?? S.Tasks[cleared[i]]) with { State = TaskState.Pending, NextAttemptAt = null };
        }
        LogCleared(_dagId, _runId, taskId, cleared.Count);

        if (S.State != RunState.Running)
        {
            // Clearing a finished run runs it again, as in Airflow.
            S.State = RunState.Running;
            S.StartedAt ??= time.GetUtcNow();
            S.EndedAt = null;
            await this.RegisterOrUpdateReminder(WakeReminder, WakePeriod, WakePeriod);
        }
        await ScheduleReadyTasksAsync();
        return Details();
    }

    public async Task OnTaskChangedAsync(TaskInstanceDetails task)
    {
        if (S.Dag is null || !S.Tasks.TryGetValue(task.TaskId, out var known))
        {
            return;
        }
        if (task.Sequence <= known.Sequence)
        {
            return;
        }
        if (S.State == RunState.Cancelled && !task.State.IsFinal())
        {
            // A late report from before the cancel: keep the task cancelled, keep its attempts.
            S.Tasks[task.TaskId] = task with { State = TaskState.Cancelled };
            await SaveAsync(now: false);
            return;
        }
        if (S.State != RunState.Running && task.State == TaskState.Pending)
        {
            S.Tasks[task.TaskId] = task;
            await SaveAsync(now: false);
            return;
        }

        S.Tasks[task.TaskId] = task;
        if (S.State == RunState.Running && task.State.IsFinal())
        {
            await ScheduleReadyTasksAsync(persistNow: false);
        }
        else
        {
            await SaveAsync(now: false);
        }
    }

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (reminderName != WakeReminder)
        {
            return;
        }
        if (S.Dag is not null && S.State == RunState.Queued)
        {
            // Registered by BeginAsync just before a crash kept it from saving Running: the DAG grain begins it again.
            return;
        }
        if (S.Dag is not null && S.State == RunState.Cancelled)
        {
            var states = await Task.WhenAll(S.Tasks.Keys.Select(async id => (Id: id, Task: await TaskGrain(id).GetAsync())));
            var unfinished = states.Where(t => t.Task is { } task && !task.State.IsFinal()).Select(t => t.Id).ToList();
            if (unfinished.Count == 0 || await CancelTasksAsync(unfinished))
            {
                await UnregisterWakeAsync();
            }
            return;
        }
        if (S.Dag is null || S.State != RunState.Running)
        {
            await UnregisterWakeAsync();
            return;
        }

        // A durable wake-up: refresh every unfinished task from its grain (a push may have been lost with a
        // silo), nudge the started ones to re-check their jobs, start again any whose start was lost, and
        // start whatever became ready.
        var neverStarted = await RefreshTasksAsync();
        foreach (var task in S.Tasks.Values.Where(t => t.State != TaskState.Pending && !t.State.IsFinal() && !neverStarted.Contains(t.TaskId)))
        {
            TaskGrain(task.TaskId).AdvanceAsync().Ignore();
        }
        await Task.WhenAll(neverStarted.Select(id => TaskGrain(id).StartAsync(StartOf(id))));
        await ScheduleReadyTasksAsync(persistNow: true);
    }

    /// <summary>Reads every unfinished task from its grain; returns those this run started whose grain never got the start.</summary>
    private async Task<List<string>> RefreshTasksAsync()
    {
        var unfinished = S.Tasks.Values.Where(t => !t.State.IsFinal()).Select(t => t.TaskId).ToList();
        var fresh = await Task.WhenAll(unfinished.Select(id => TaskGrain(id).GetAsync()));
        var neverStarted = new List<string>();
        for (var i = 0; i < unfinished.Count; i++)
        {
            if (fresh[i] is not { } task || (task.State == TaskState.Pending && S.Tasks[unfinished[i]].State != TaskState.Pending))
            {
                // Started here, but the task grain never kept its start (its silo died first; a task's start
                // is written with its first attempt): send it again.
                if (S.Tasks[unfinished[i]].State != TaskState.Pending)
                {
                    neverStarted.Add(unfinished[i]);
                }
            }
            else if (task.Sequence > S.Tasks[task.TaskId].Sequence)
            {
                S.Tasks[task.TaskId] = task;
            }
        }
        return neverStarted;
    }

    /// <summary>Applies trigger rules until nothing changes, starts the tasks that became ready, and ends the run when all are final.</summary>
    private async Task ScheduleReadyTasksAsync(bool persistNow = true)
    {
        var toStart = new List<TaskDefinition>();
        bool changed;
        do
        {
            changed = false;
            foreach (var task in S.Dag!.Tasks)
            {
                var instance = S.Tasks[task.TaskId];
                if (instance.State != TaskState.Pending || toStart.Contains(task))
                {
                    continue;
                }
                var decision = TriggerRules.Decide(task.TriggerRule, task.Upstream.Select(id => S.Tasks[id].State));
                switch (decision)
                {
                    case TriggerDecision.Run:
                        toStart.Add(task);
                        break;
                    case TriggerDecision.Skip:
                        S.Tasks[task.TaskId] = instance with { State = TaskState.Skipped };
                        changed = true;
                        break;
                    case TriggerDecision.UpstreamFailed:
                        S.Tasks[task.TaskId] = instance with { State = TaskState.UpstreamFailed };
                        changed = true;
                        break;
                }
            }
        }
        while (changed);

        foreach (var task in toStart)
        {
            // Marked queued here so that a second pass never starts it twice; the grain's own report follows.
            S.Tasks[task.TaskId] = S.Tasks[task.TaskId] with { State = TaskState.Queued };
        }

        if (toStart.Count == 0 && S.Tasks.Values.All(t => t.State.IsFinal()))
        {
            await FinishAsync(LeafOutcome());
            return;
        }

        await SaveAsync(persistNow);
        if (toStart.Count > 0)
        {
            await Task.WhenAll(toStart.Select(task => TaskGrain(task.TaskId).StartAsync(StartOf(task.TaskId))));
        }
    }

    private TaskStart StartOf(string taskId) => new()
    {
        Task = S.Dag!.Tasks.First(t => t.TaskId == taskId),
        LogicalDate = S.LogicalDate,
        Params = S.Params,
    };

    /// <summary>Airflow's rule: the run failed when any leaf task failed or could not run; otherwise it succeeded.</summary>
    private RunState LeafOutcome()
    {
        var leaves = S.Dag!.Tasks.Where(t => !_downstream.ContainsKey(t.TaskId) || _downstream[t.TaskId].Count == 0);
        return leaves.Any(t => S.Tasks[t.TaskId].State is TaskState.Failed or TaskState.TimedOut or TaskState.UpstreamFailed or TaskState.Cancelled)
            ? RunState.Failed
            : RunState.Succeeded;
    }

    private async Task FinishAsync(RunState state)
    {
        S.State = state;
        S.EndedAt = time.GetUtcNow();
        LogFinished(_dagId, _runId, state);
        await SaveAsync();
        await UnregisterWakeAsync();
        var notify = state == RunState.Succeeded ? S.Dag!.Notify.OnSuccess : state == RunState.Failed ? S.Dag!.Notify.OnFailure : [];
        if (!notify.IsEmpty)
        {
            notifier.NotifyAsync(notify, Details()).Ignore();
        }
    }

    private async Task UnregisterWakeAsync()
    {
        if (await this.GetReminder(WakeReminder) is { } reminder)
        {
            await this.UnregisterReminder(reminder);
        }
    }

    /// <summary>
    /// Persists the run, writes its history and tells listeners. Run-level changes do it at once; a task's
    /// change only marks the run dirty and is written within <see cref="FlushDelay"/>, together with every
    /// other change of that moment, so that a wide DAG costs one write per batch instead of one per task.
    /// Nothing is lost by the wait: each task grain holds its own state, and activation re-reads them.
    /// </summary>
    private async Task SaveAsync(bool now = true)
    {
        if (!now)
        {
            _dirty = true;
            _flushTimer ??= this.RegisterGrainTimer(FlushAsync, FlushDelay, Timeout.InfiniteTimeSpan);
            return;
        }
        _dirty = false;
        await store.WriteStateAsync();
        var details = Details();
        events.Publish(details);
        // Watchers on other silos and clients (a dashboard) hear of it too; the local event feed only reaches this silo.
        _watchers?.Notify(w => w.OnRunChangedAsync(details));
        var summary = RunSummary.From(details);
        if (summary != _lastSummary)
        {
            // The DAG grain cares about the run's own state, not each task's.
            _lastSummary = summary;
            GrainFactory.GetGrain<IDagGrain>(_dagId).OnRunChangedAsync(summary).Ignore();
        }
        try
        {
            await history.SaveRunAsync(details);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // The grain's state is saved; the history table catches up once its database answers again.
            LogHistoryFailed(_dagId, _runId, ex.Message);
            _dirty = true;
            _flushTimer ??= this.RegisterGrainTimer(FlushAsync, HistoryRetryDelay, Timeout.InfiniteTimeSpan);
        }
    }

    private async Task FlushAsync(CancellationToken cancellationToken)
    {
        _flushTimer?.Dispose();
        _flushTimer = null;
        if (_dirty)
        {
            await SaveAsync();
        }
    }

    private HashSet<string> Downstream(string taskId)
    {
        var result = new HashSet<string>(StringComparer.Ordinal);
        var stack = new Stack<string>([taskId]);
        while (stack.TryPop(out var id))
        {
            if (result.Add(id) && _downstream.TryGetValue(id, out var children))
            {
                children.ForEach(stack.Push);
            }
        }
        return result;
    }

    private void IndexDownstream()
    {
        _downstream = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (var task in S.Dag?.Tasks ?? [])
        {
            foreach (var up in task.Upstream)
            {
                if (!_downstream.TryGetValue(up, out var list))
                {
                    _downstream[up] = list = [];
                }
                list.Add(task.TaskId);
            }
        }
    }

    private ITaskRunGrain TaskGrain(string taskId) => GrainFactory.GetGrain<ITaskRunGrain>(RunKeys.Task(_dagId, _runId, taskId));

    private RunDetails Details() => new()
    {
        DagId = _dagId,
        RunId = _runId,
        State = S.State,
        LogicalDate = S.LogicalDate,
        Params = S.Params,
        QueuedAt = S.QueuedAt,
        StartedAt = S.StartedAt,
        EndedAt = S.EndedAt,
        RunType = S.RunType,
        DagVersion = S.Dag?.Version ?? "",
        Tasks = [.. S.Dag?.Tasks.Select(t => S.Tasks[t.TaskId]) ?? []],
    };

    [LoggerMessage(Level = LogLevel.Information, Message = "{DagId}/{RunId}: created (start now: {StartNow})")]
    private partial void LogCreated(string dagId, string runId, bool startNow);

    [LoggerMessage(Level = LogLevel.Information, Message = "{DagId}/{RunId}: {State}")]
    private partial void LogFinished(string dagId, string runId, RunState state);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{DagId}/{RunId}: writing history failed, trying again shortly: {Error}")]
    private partial void LogHistoryFailed(string dagId, string runId, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{DagId}/{RunId}/{TaskId}: cancel could not be delivered, asking again at the next wake-up: {Error}")]
    private partial void LogCancelFailed(string dagId, string runId, string taskId, string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "{DagId}/{RunId}: cancel requested")]
    private partial void LogCancelled(string dagId, string runId);

    [LoggerMessage(Level = LogLevel.Information, Message = "{DagId}/{RunId}: cleared {TaskId} and {Count} task(s) with its downstream")]
    private partial void LogCleared(string dagId, string runId, string taskId, int count);
}
