using System.Collections.Immutable;
using System.Diagnostics;
using Batchyard.Backends;
using Batchyard.Dags;
using Batchyard.Datasets;
using Batchyard.Events;
using Batchyard.Grains;
using Batchyard.History;
using Batchyard.Pools;
using Batchyard.Scheduling;
using Batchyard.Telemetry;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Batchyard.Runs;

/// <summary>What a run grain persists, once, when the run is created: the DAG snapshot it runs. Everything that changes is in the journal.</summary>
[GenerateSerializer]
public sealed class DagRunState
{
    [Id(0)] public DagDefinition? Dag { get; set; }
    [Id(1)] public string RunId { get; set; } = "";
    [Id(3)] public DateTimeOffset LogicalDate { get; set; }
    [Id(4)] public ImmutableDictionary<string, string> Params { get; set; } = ImmutableDictionary<string, string>.Empty;
    [Id(5)] public string RunType { get; set; } = "manual";
    [Id(6)] public DateTimeOffset QueuedAt { get; set; }
    /// <summary>The run's root span (W3C traceparent): every span of the run, on any silo, is parented on it.</summary>
    [Id(7)] public string? TraceParent { get; set; }
    [Id(8)] public string? TriggeredBy { get; set; }
    /// <summary>A <c>dataset</c> run: the updates that started it.</summary>
    [Id(60)] public ImmutableArray<DatasetUpdate> TriggeringDatasets { get; set; } = [];
    /// <summary>A run made ahead of its cron slot: it begins then (<see cref="RunStart.StartAt"/>).</summary>
    [Id(61)] public DateTimeOffset? StartAt { get; set; }
    /// <summary>Its DAG admitted it (under <c>max_active_runs</c>) before its <see cref="StartAt"/>.</summary>
    [Id(62)] public bool Admitted { get; set; }
}

/// <summary>
/// One DAG run, the single owner of its task instances: their states, attempts, retry times, timeouts, clear
/// and cancel, and the trigger rules between them. Every change is one event appended to the run's journal;
/// job supervisors only run jobs and report facts back. Anything that reaches outside the grain (a submit, a
/// stop, a notification) waits until the events before it are durable, so a crash can lose a decision but
/// never act on one it forgot. Activation rebuilds the run from its journal.
/// </summary>
public sealed partial class DagRunGrain(
    [PersistentState("run", StorageNames.Batchyard)] IPersistentState<DagRunState> store,
    IRunJournal journal,
    RunEvents events,
    PoolSettings pools,
    Batchyard.Backends.BackendCatalog backends,
    [Microsoft.Extensions.DependencyInjection.FromKeyedServices(BatchyardClock.Key)] TimeProvider time,
    ILogger<DagRunGrain> logger,
    IOptions<WakeOptions> wake,
    BatchyardMetrics metrics,
    SlotClock slots) : Grain, IDagRunGrain, IRunCallbacks, IRemindable
{
    /// <summary>The run's durable wake-up while it is active (or owes stops).</summary>
    public const string WakeReminder = "wake";
    private static readonly TimeSpan PublishDelay = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan LongestTimer = TimeSpan.FromHours(12);

    private readonly CancellationTokenSource _life = new();
    private readonly RunJournalWriter _writer = new();
    private string _dagId = "";
    private string _runId = "";
    private RunState _state = RunState.Queued;
    private DateTimeOffset? _startedAt;
    private DateTimeOffset? _endedAt;
    private Dictionary<string, FoldedTask> _tasks = new(StringComparer.Ordinal);
    private Dictionary<string, TaskDefinition> _defs = new(StringComparer.Ordinal);
    private Dictionary<string, List<string>> _downstream = new(StringComparer.Ordinal);
    private Dictionary<string, int> _index = new(StringComparer.Ordinal);
    private FoldedTask[] _ordered = [];
    private ReadyTracker _ready = new([]);
    private readonly Dictionary<string, MapGroup> _groups = new(StringComparer.Ordinal);
    private Dictionary<string, string[]> _outputRefs = new(StringComparer.Ordinal);
    private readonly DueTimes _due = new();
    private DateTimeOffset? _timerAt;
    private ClockTimer? _timer;
    private IDisposable? _slotArm;
    /// <summary>A run begun at its slot goes on by itself when the clock's go-on does not come (<see cref="SlotClock.FollowUpLimit"/>).</summary>
    private ClockTimer? _goOnTimer;
    /// <summary>Begun at its slot by the <see cref="SlotClock"/>, this run has yet to start its tasks (when the clock lets it go on).</summary>
    private bool _goOnOwed;
    private Task _wakeArming = Task.CompletedTask;

    /// <summary>The wake reminder this activation registered: unregistered without reading it back from the table.</summary>
    private IGrainReminder? _wake;
    private bool _tellPending;
    private Task _telling = Task.CompletedTask;
    private RunState? _dagHeard;
    private Orleans.Utilities.ObserverManager<IRunObserver>? _watchers;
    private IGrainTimer? _publishTimer;
    private Activity? _runSpan;
    // The spans of this activation's attempts, open until the attempt ends, and their ids for the stops that follow.
    private readonly Dictionary<(string Key, int Attempt), Activity> _attemptSpans = [];
    private readonly Dictionary<(string Key, int Attempt), string> _attemptTraceParents = [];

    private DagRunState S => store.State;

    private ClockTimer Timer => _timer ??= new ClockTimer(time, _life.Token);

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        (_dagId, _runId) = RunKeys.ParseRun(this.GetPrimaryKeyString());
        _writer.Bind(this, journal, _life.Token, RunEffectFailed);
        if (S.Dag is null)
        {
            return;
        }
        IndexDag();
        var folded = FoldedRun.From(await journal.ReadAsync(_dagId, _runId, cancellationToken));
        _writer.Seq = folded.LastSeq;
        FoldNotices(folded);
        (_state, _startedAt, _endedAt) = (folded.State, folded.StartedAt, folded.EndedAt);
        if (folded.Created is null)
        {
            // The snapshot was saved but its first event never was (a crash in between): record it now.
            InitTasks();
            RecordCreated();
        }
        else
        {
            _tasks = folded.Tasks;
        }
        TrackTasks();
        TrackDeadlines(folded);
        if (_state == RunState.Queued && S.Admitted)
        {
            // Made ahead of its slot and admitted: it begins at the slot, or at once when that has passed.
            ArmSlot();
        }
        else if (_state != RunState.Queued)
        {
            // As a turn of its own: re-order the unfinished attempts' supervisors and re-send owed stops.
            this.AsReference<IDagRunGrain>().ResumeAsync().Ignore();
        }
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        _timer?.Cancel();
        _slotArm?.Dispose();
        _goOnTimer?.Cancel();
        // Spans cannot follow the run to its next activation: they end here, and later spans keep their parents' ids.
        foreach (var span in _attemptSpans.Values)
        {
            BatchyardTracing.EndEarly(span);
        }
        _attemptSpans.Clear();
        BatchyardTracing.EndEarly(_runSpan);
        _runSpan = null;
        // Whatever is recorded is written before the grain goes; when the silo shuts down its storage may
        // already be gone, and nothing is lost by not waiting: undurable decisions were never acted on.
        if (reason.ReasonCode != DeactivationReasonCode.ShuttingDown)
        {
            try
            {
                await _writer.FlushedAsync().WaitAsync(cancellationToken);
            }
            catch (OperationCanceledException)
            {
                // Out of time: the next activation rebuilds from what was written.
            }
        }
        _life.Cancel();
    }

    public async Task<RunDetails?> CreateAsync(RunStart start)
    {
        if (S.Dag is not null)
        {
            return null;
        }
        S.Dag = start.Dag;
        S.RunId = start.RunId;
        S.LogicalDate = start.LogicalDate;
        S.Params = start.Params;
        S.RunType = start.RunType;
        S.TriggeredBy = start.TriggeredBy;
        S.TriggeringDatasets = start.TriggeringDatasets;
        var now = time.GetUtcNow();
        // Made ahead of its slot, a run is queued for the slot: that is when it waits from, for its deadlines too.
        var ahead = start.StartAt is { } at && at > now;
        S.StartAt = ahead ? start.StartAt : null;
        S.Admitted = ahead && start.StartNow;
        S.QueuedAt = ahead ? start.StartAt!.Value : now;
        _runSpan = BatchyardTracing.StartRun(_dagId, _runId, start.RunType);
        S.TraceParent = BatchyardTracing.TraceParent(_runSpan);
        await store.WriteStateAsync();
        IndexDag();
        InitTasks();
        TrackTasks();
        TrackDeadlines(null);
        RecordCreated();
        using (TraceScope(S.TraceParent))
        {
            LogCreated(_dagId, _runId, start.StartNow);
        }
        if (start.StartNow && !ahead)
        {
            await BeginCoreAsync();
        }
        else if (S.Admitted)
        {
            // Admitted already; its own timer begins it at the slot, its wake reminder after a crash. The reminder is
            // durable before the DAG grain hears of the run and moves past its slot: else a crash in between would
            // leave a run nobody begins (the failover test's orphaned slot).
            ArmWake();
            ArmSlot();
            await _wakeArming;
        }
        else
        {
            // A queued run, too, has its wake-up: it tells its DAG grain of itself until it is begun.
            ArmWake();
            TellDagSoon();
        }
        await _writer.FlushedAsync();
        return Details();
    }

    public async Task BeginAsync()
    {
        if (S.Dag is null || _state != RunState.Queued)
        {
            return;
        }
        if (S.StartAt is { } at && at > time.GetUtcNow())
        {
            // Admitted before its slot: it begins then.
            if (!S.Admitted)
            {
                S.Admitted = true;
                await store.WriteStateAsync();
            }
            ArmWake();
            ArmSlot();
            return;
        }
        await BeginCoreAsync();
        await _writer.FlushedAsync();
    }

    public async Task<bool> WithdrawAsync()
    {
        if (S.Dag is null || _state != RunState.Queued || S.StartAt is not { } at || at <= time.GetUtcNow())
        {
            return false;
        }
        _slotArm?.Dispose();
        await CancelAsync();
        return true;
    }

    public Task<bool> BeginAtSlotAsync()
    {
        if (S.Dag is null || _state != RunState.Queued || !S.Admitted || S.StartAt is not { } at)
        {
            return Task.FromResult(false);
        }
        if (at > time.GetUtcNow())
        {
            // A system timer may fire a hair before the clock reads its instant.
            ArmSlot();
            return Task.FromResult(false);
        }
        // Running from now; written, and its tasks started, when the clock lets it go on (every run of the slot has begun).
        _writer.Hold();
        BeginState();
        _goOnOwed = true;
        var self = this.AsReference<IDagRunGrain>();
        (_goOnTimer ??= new ClockTimer(time, _life.Token)).Arm(time.GetUtcNow() + SlotClock.FollowUpLimit, LongestTimer, self.GoOnAtSlotAsync);
        return Task.FromResult(true);
    }

    public async Task GoOnAtSlotAsync()
    {
        if (!_goOnOwed)
        {
            return;
        }
        _goOnOwed = false;
        _goOnTimer?.Cancel();
        await ScheduleReadyAsync();
        await _writer.FlushedAsync();
    }

    /// <summary>The silo's slot clock begins a run made ahead of its slot at the slot: that is what makes the start punctual.</summary>
    private void ArmSlot()
    {
        if (S.StartAt is null || _state != RunState.Queued)
        {
            return;
        }
        var self = this.AsReference<IDagRunGrain>();
        _slotArm?.Dispose();
        _slotArm = slots.Arm(S.StartAt.Value, self.BeginAtSlotAsync, self.GoOnAtSlotAsync);
    }

    private async Task BeginCoreAsync()
    {
        BeginState();
        await ScheduleReadyAsync();
    }

    /// <summary>Running from now: recorded, and the wake reminder armed (it is, already, for a run made ahead).</summary>
    private void BeginState()
    {
        _state = RunState.Running;
        _startedAt = time.GetUtcNow();
        RecordRunState();
        if (S.RunType == "scheduled")
        {
            var late = _startedAt.Value - S.LogicalDate;
            _writer.AfterDurable(() =>
            {
                metrics.ScheduledRunStarted(_dagId, late);
                return Task.CompletedTask;
            });
        }
        ArmWake();
    }

    public Task<RunDetails?> GetAsync() => Task.FromResult(S.Dag is null ? null : Details());

    public Task<TaskState?> GetTaskStateAsync(string taskId) =>
        Task.FromResult(_tasks.TryGetValue(taskId, out var task) ? task.State : (TaskState?)null);

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
        if (_state.IsFinal())
        {
            return Details();
        }
        LogCancelled(_dagId, _runId);
        var now = time.GetUtcNow();
        foreach (var task in _tasks.Values.Where(t => !t.State.IsFinal()))
        {
            var touched = InterruptAttempt(task, "cancelled", now);
            task.State = TaskState.Cancelled;
            task.NextAttemptAt = null;
            RecordTask(task, touched);
        }
        // Saved cancelled before any job is touched: the stops wait for this write.
        Finish(RunState.Cancelled);
        await _writer.FlushedAsync();
        return Details();
    }

    public async Task<RunDetails> ClearTaskAsync(string taskId, int? mapIndex = null)
    {
        if (S.Dag is null || !_tasks.ContainsKey(taskId))
        {
            throw new KeyNotFoundException($"task {taskId} is not in run {_dagId}/{_runId}");
        }
        var now = time.GetUtcNow();
        var cleared = Downstream(taskId);
        if (mapIndex is { } index)
        {
            // One instance again, and whatever is downstream of its mapped task; its siblings keep their results.
            if (!_groups.TryGetValue(taskId, out var group) || index < 0 || index >= group.Parent.Instances.Count)
            {
                throw new KeyNotFoundException($"task {taskId} has no instance {index} in run {_dagId}/{_runId}");
            }
            var instance = group.Parent.Instances[index];
            ClearOne(instance, now);
            group.Requeue(index);
            cleared.Remove(taskId);
            if (group.Parent.State != TaskState.Running)
            {
                group.Parent.State = TaskState.Running;
                RecordTask(group.Parent, null);
            }
        }
        foreach (var id in cleared)
        {
            var task = _tasks[id];
            if (_groups.Remove(id))
            {
                // Cleared whole, a mapped task expands again when it is ready: its list may have changed.
                foreach (var instance in task.Instances)
                {
                    ClearOne(instance, now);
                }
            }
            ClearOne(task, now);
            _ready.MarkDirty(_index[id]);
        }
        LogCleared(_dagId, _runId, TaskKeys.Of(taskId, mapIndex), cleared.Count);

        if (_state != RunState.Running)
        {
            // Clearing a finished run runs it again, as in Airflow.
            _state = RunState.Running;
            _startedAt ??= now;
            _endedAt = null;
            RecordRunState();
            ArmWake();
            WatchRunDeadline();
        }
        if (mapIndex is not null)
        {
            await LaunchInstancesAsync(_groups[taskId]);
        }
        await ScheduleReadyAsync();
        await _writer.FlushedAsync();
        return Details();
    }

    private void ClearOne(FoldedTask task, DateTimeOffset now)
    {
        var touched = InterruptAttempt(task, "cleared", now);
        task.AttemptsAtClear = task.Attempts.Count;
        task.State = TaskState.Pending;
        task.NextAttemptAt = null;
        RecordTask(task, touched);
    }

    public async Task ResumeAsync()
    {
        if (S.Dag is null)
        {
            return;
        }
        HandOverLateAgain();
        if (_goOnOwed)
        {
            // Begun at its slot, its go-on has not come yet (the reminder came first): it goes on now.
            await GoOnAtSlotAsync();
        }
        if (_state == RunState.Queued)
        {
            if (S.Admitted)
            {
                // Admitted ahead of its slot: its timer begins it (armed on activation).
                ArmSlot();
                return;
            }
            // A queued run waits for its DAG grain to begin it, and reminds it that it waits.
            TellDagSoon();
            return;
        }
        HandOverDatasetsAgain();
        HandOverNoticesAgain();
        foreach (var task in _tasks.Values.ToList())
        {
            foreach (var attempt in task.StopPending)
            {
                OrderStop(task, attempt);
            }
            if (_state != RunState.Running)
            {
                continue;
            }
            if (Current(task) is { } current)
            {
                if (current.State == AttemptState.Queued)
                {
                    // Not submitted yet: it may still wait for its quota.
                    await OrderWithinQuotaAsync(task, current);
                    continue;
                }
                var order = OrderFor(task, current.Attempt, acknowledged: true);
                _writer.AfterDurable(() => Supervisor(order.Job).RunAsync(order));
            }
            else if (task.State == TaskState.Queued)
            {
                // Its launch (or its pool's wake-up) was lost.
                await LaunchAttemptAsync(task);
            }
        }
        if (_state == RunState.Running)
        {
            foreach (var group in _groups.Values.ToList())
            {
                await AdvanceMapAsync(group.Parent.Plan.TaskId);
            }
            _ready.MarkAllDirty();
            await ScheduleReadyAsync();
            await OnDueCoreAsync();
        }
        else
        {
            TellDagSoon();
        }
    }

    public async Task OnPoolSlotAsync(string taskId)
    {
        if (_state != RunState.Running || !_tasks.TryGetValue(taskId, out var task) || task.State != TaskState.Queued)
        {
            return;
        }
        if (Current(task) is null)
        {
            await LaunchAttemptAsync(task);
        }
        else if (Current(task) is { State: AttemptState.Queued } current)
        {
            // Its quota's turn came.
            await OrderWithinQuotaAsync(task, current);
        }
    }

    async Task IRunCallbacks.OnJobReportAsync(JobReport report)
    {
        if (S.Dag is null || !_tasks.TryGetValue(TaskKeys.Of(report.TaskId, report.MapIndex), out var task))
        {
            return;
        }
        if (report.Stopped)
        {
            if (task.StopPending.Remove(report.Attempt))
            {
                // A job Batchyard stopped is priced once it has stopped: the attempt ended before its job did.
                AttemptDetails? costed = null;
                if (report.Cost is { } cost && report.Attempt <= task.Attempts.Count && task.Attempts[report.Attempt - 1] is { Cost: null } stopped)
                {
                    costed = task.Attempts[report.Attempt - 1] = stopped with { Cost = cost };
                }
                RecordTask(task, costed);
                ReleaseSupervisor(task, report.Attempt);
                _writer.AfterDurable(RetireIfDoneAsync);
            }
            return;
        }
        // Facts about an attempt that has ended already (a repeat, or a late word after a cancel or clear) change nothing.
        if (Current(task) is not { } current || current.Attempt != report.Attempt)
        {
            return;
        }
        if (report.Waiting is { } waiting)
        {
            // The backend has no room for it yet: still queued, and saying why.
            if (current.State == AttemptState.Queued && current.Reason != waiting)
            {
                var queued = current with { Reason = waiting };
                task.Attempts[current.Attempt - 1] = queued;
                RecordTask(task, queued);
            }
        }
        else if (report.SubmitFailure is { } failure)
        {
            // A refusal before any job exists needs no stop; a failed submit may have made one.
            await EndAttemptAsync(task, current, AttemptState.Failed, failure, exitCode: null, jobEnded: !report.Retryable, allowRetry: report.Retryable);
        }
        else if (report.Status is { } status)
        {
            await ApplyStatusAsync(task, current, status);
        }
    }

    Task IRunCallbacks.OnDueAsync() => OnDueCoreAsync();

    async Task<bool> IRunCallbacks.OnAfterEndAsync(AfterEndReport report)
    {
        if (S.Dag is null || !_tasks.TryGetValue(TaskKeys.Of(report.TaskId, report.MapIndex), out var task) || report.Attempt < 1)
        {
            // No such task here (the run is gone): nothing to add the facts to.
            return true;
        }
        if (report.Attempt > task.Attempts.Count || !task.Attempts[report.Attempt - 1].State.IsFinal())
        {
            // Its supervisor hands the pool over before it reports the end: the end is on its way.
            return false;
        }
        var attempt = task.Attempts[report.Attempt - 1];
        var details = attempt.Details.SetItems(report.Details);
        var cost = report.Cost ?? attempt.Cost;
        if (Batchyard.Backends.JobDetails.Same(details, attempt.Details) && cost == attempt.Cost)
        {
            return true;
        }
        // The attempt ended long ago, perhaps its run too: only its facts and price change, not what it counts as.
        var amended = task.Attempts[report.Attempt - 1] = attempt with { Details = details, Cost = cost };
        _writer.Record(RunEventKinds.Task, task.Key, task.ToFact(amended), time.GetUtcNow());
        _publishTimer ??= this.RegisterGrainTimer(PublishSoonAsync, PublishDelay, Timeout.InfiniteTimeSpan);
        await _writer.FlushedAsync();
        return true;
    }

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (reminderName != WakeReminder)
        {
            return;
        }
        if (S.Dag is null)
        {
            await UnregisterWakeAsync();
            return;
        }
        await ResumeAsync();
    }

    private async Task ApplyStatusAsync(FoldedTask task, AttemptDetails current, JobStatusUpdate status)
    {
        var jobId = status.JobId ?? current.JobId;
        var details = status.Details.IsEmpty ? current.Details : current.Details.SetItems(status.Details);
        var startedAt = current.StartedAt ?? status.StartedAt;
        AttemptDetails next;
        switch (status.State)
        {
            case JobState.Queued:
                if (current.State == AttemptState.Running || (current.State == AttemptState.Submitted && jobId == current.JobId && details == current.Details && status.Reason == current.Reason))
                {
                    return;
                }
                // The reason of a waiting job is what it waits for (e.g. "waiting for 2 GPUs: 1 of 2 free").
                next = current with { State = AttemptState.Submitted, JobId = jobId, Details = details, Reason = status.Reason };
                task.State = TaskState.Submitted;
                break;
            case JobState.Running:
                if (current.State == AttemptState.Running && jobId == current.JobId && details == current.Details)
                {
                    return;
                }
                var since = startedAt ?? time.GetUtcNow();
                next = current with { State = AttemptState.Running, JobId = jobId, StartedAt = since, Details = details, Reason = null };
                task.State = TaskState.Running;
                task.Deadline = _defs[task.Plan.TaskId].Timeout is { } timeout ? since + timeout : null;
                break;
            case JobState.Succeeded:
                await EndAttemptAsync(task, current with { JobId = jobId, Details = details, StartedAt = startedAt, Output = status.Output, Cost = status.Cost }, AttemptState.Succeeded, null, status.ExitCode, jobEnded: true, allowRetry: false, status.EndedAt);
                return;
            case JobState.TimedOut:
                await EndAttemptAsync(task, current with { JobId = jobId, Details = details, StartedAt = startedAt, Cost = status.Cost }, AttemptState.TimedOut, status.Reason ?? "the backend stopped the job at its maximum runtime", status.ExitCode, jobEnded: true, allowRetry: true, status.EndedAt);
                return;
            default:
                var reason = status.State switch
                {
                    JobState.Stopped => "the job was stopped outside Batchyard" + (status.Reason is null ? "" : $": {status.Reason}"),
                    JobState.Lost => status.Reason ?? "the job was lost",
                    _ => status.Reason ?? (status.ExitCode is { } code ? $"exit code {code}" : "failed"),
                };
                await EndAttemptAsync(task, current with { JobId = jobId, Details = details, StartedAt = startedAt, Cost = status.Cost }, AttemptState.Failed, reason, status.ExitCode, jobEnded: true, allowRetry: true, status.EndedAt);
                return;
        }
        task.Attempts[current.Attempt - 1] = next;
        RecordTask(task, next);
        ArmTimer();
        if (next.State == AttemptState.Running)
        {
            WatchTaskDeadline(task);
        }
    }

    private async Task EndAttemptAsync(FoldedTask task, AttemptDetails current, AttemptState state, string? reason, int? exitCode, bool jobEnded, bool allowRetry, DateTimeOffset? endedAt = null)
    {
        var now = time.GetUtcNow();
        var ended = current with { State = state, Reason = reason, ExitCode = exitCode ?? current.ExitCode, EndedAt = endedAt ?? now };
        task.Attempts[current.Attempt - 1] = ended;
        task.Deadline = null;
        if (!jobEnded)
        {
            task.StopPending.Add(ended.Attempt);
            OrderStop(task, ended.Attempt);
        }
        else
        {
            ReleaseSupervisor(task, ended.Attempt);
        }

        var def = _defs[task.Plan.TaskId];
        var attemptsSinceClear = task.Attempts.Count - task.AttemptsAtClear;
        if (state == AttemptState.Succeeded)
        {
            task.State = TaskState.Succeeded;
        }
        else if (allowRetry && attemptsSinceClear <= def.Retries)
        {
            var delay = RetryPolicy.DelayBefore(def, attemptsSinceClear);
            task.State = TaskState.UpForRetry;
            task.NextAttemptAt = now + delay;
            LogRetrying(_dagId, _runId, task.Key, ended.Attempt, reason ?? "", delay);
            NoticeRetry(task, ended, delay);
        }
        else
        {
            task.State = state == AttemptState.TimedOut ? TaskState.TimedOut : TaskState.Failed;
        }
        using (TraceScope(_attemptTraceParents.GetValueOrDefault((task.Key, ended.Attempt)) ?? S.TraceParent))
        {
            LogAttemptEnded(_dagId, _runId, task.Key, ended.Attempt, state, reason ?? "");
        }
        RecordTask(task, ended);
        AttemptEnded(task, ended);
        ReleasePoolSlot(task);
        if (task.Plan.MapIndex is not null)
        {
            await AdvanceMapAsync(task.Plan.TaskId);
        }
        if (task.State.IsFinal())
        {
            await ScheduleReadyAsync();
        }
        ArmTimer();
    }

    /// <summary>Ends the task's unfinished attempt as cancelled and owes its job a stop; returns that attempt (or null).</summary>
    private AttemptDetails? InterruptAttempt(FoldedTask task, string reason, DateTimeOffset now)
    {
        task.Deadline = null;
        if (Current(task) is not { } current)
        {
            if (task.State == TaskState.Queued)
            {
                // Waiting in its pool's line.
                ReleasePoolSlot(task);
            }
            return null;
        }
        var ended = current with { State = AttemptState.Cancelled, Reason = reason, EndedAt = now };
        task.Attempts[current.Attempt - 1] = ended;
        AttemptEnded(task, ended);
        task.StopPending.Add(ended.Attempt);
        OrderStop(task, ended.Attempt);
        ReleasePoolSlot(task);
        return ended;
    }

    /// <summary>Applies trigger rules until nothing changes, launches the tasks that became ready, and ends the run when all are final.</summary>
    private async Task ScheduleReadyAsync()
    {
        if (_state != RunState.Running)
        {
            return;
        }
        // Only tasks whose upstream changed are decided again; a skip or an upstream failure decided here
        // changes its own downstream tasks, which the next round decides. Starting a task can decide it too
        // (its condition is false, its map is empty), so deciding goes on until nothing is left to decide.
        while (_state == RunState.Running)
        {
            var toStart = new List<FoldedTask>();
            for (var round = _ready.TakeDirty(); round.Count > 0; round = _ready.TakeDirty())
            {
                foreach (var i in round)
                {
                    var task = _ordered[i];
                    if (task.State != TaskState.Pending)
                    {
                        continue;
                    }
                    switch (TriggerRules.Decide(_defs[task.Plan.TaskId].TriggerRule, _ready.Tally(i)))
                    {
                        case TriggerDecision.Run:
                            // Marked at once so that no later pass picks it again; its start records it.
                            task.State = TaskState.Queued;
                            toStart.Add(task);
                            break;
                        case TriggerDecision.Skip:
                            task.State = TaskState.Skipped;
                            RecordTask(task, null);
                            break;
                        case TriggerDecision.UpstreamFailed:
                            task.State = TaskState.UpstreamFailed;
                            RecordTask(task, null);
                            break;
                    }
                }
            }
            if (toStart.Count == 0)
            {
                break;
            }
            foreach (var task in toStart)
            {
                await StartAsync(task);
            }
        }

        if (_state == RunState.Running && _ready.Unfinished == 0)
        {
            Finish(LeafOutcome());
        }
    }

    /// <summary>A ready task: its condition decides whether it runs; a mapped task expands; any other makes its first attempt.</summary>
    private async Task StartAsync(FoldedTask task)
    {
        var def = _defs[task.Plan.TaskId];
        if (def.When is { } when)
        {
            bool run;
            try
            {
                var condition = Condition.Parse(when);
                var referred = condition.Placeholders.SelectMany(p => Templates.OutputTasks("{{ " + p + " }}")).ToList();
                // A condition over the output of a task that was skipped is false, as Airflow's short-circuit
                // carries on: the skip travels down instead of failing the task on a missing value.
                var context = ContextFor(task, def, referred);
                run = !referred.Any(id => _tasks.TryGetValue(id, out var up) && up.State == TaskState.Skipped && !context.Outputs!.ContainsKey(id))
                    && condition.Evaluate(name => Templates.Variable(name, context));
            }
            catch (Exception ex) when (ex is TemplateException or ConditionEvaluationException or ConditionSyntaxException)
            {
                FailBeforeJob(task, ex.Message.StartsWith("when:", StringComparison.Ordinal) ? ex.Message : $"when: {ex.Message}");
                return;
            }
            if (!run)
            {
                LogConditionFalse(_dagId, _runId, task.Key, when);
                task.State = TaskState.Skipped;
                RecordTask(task, null);
                return;
            }
        }
        if (def.Map is { } map)
        {
            await ExpandAsync(task, def, map);
            return;
        }
        await LaunchAttemptAsync(task);
    }

    /// <summary>Expands a mapped task into its instances (recorded with their items) and launches as many as its cap allows.</summary>
    private async Task ExpandAsync(FoldedTask parent, TaskDefinition def, MapSpec map)
    {
        ImmutableArray<string> items;
        if (map.Over is { } over)
        {
            string rendered;
            try
            {
                rendered = Templates.Render(over, ContextFor(parent, def, Templates.OutputTasks(over)));
            }
            catch (TemplateException ex)
            {
                FailBeforeJob(parent, $"map.over: {ex.Message}");
                return;
            }
            try
            {
                using var list = System.Text.Json.JsonDocument.Parse(rendered);
                if (list.RootElement.ValueKind != System.Text.Json.JsonValueKind.Array)
                {
                    FailBeforeJob(parent, $"map.over rendered {Shorten(rendered)}, which is not a JSON list");
                    return;
                }
                items = [.. list.RootElement.EnumerateArray().Select(e => e.GetRawText())];
            }
            catch (System.Text.Json.JsonException)
            {
                FailBeforeJob(parent, $"map.over rendered {Shorten(rendered)}, which is not a JSON list");
                return;
            }
        }
        else
        {
            items = map.Items;
        }
        if (items.Length > MapSpec.MaxInstances)
        {
            FailBeforeJob(parent, $"map.over has {items.Length} items; a mapped task has at most {MapSpec.MaxInstances} instances");
            return;
        }
        if (items.Length == 0)
        {
            LogMapEmpty(_dagId, _runId, parent.Key);
            parent.State = TaskState.Skipped;
            RecordTask(parent, null);
            return;
        }

        foreach (var gone in parent.Expand(items))
        {
            _tasks.Remove(gone.Key);
        }
        foreach (var instance in parent.Instances)
        {
            _tasks.TryAdd(instance.Key, instance);
        }
        _writer.Record(RunEventKinds.TaskMapped, parent.Key, new TaskMappedFact(items), time.GetUtcNow());
        var group = new MapGroup(parent, map.MaxActive);
        _groups[parent.Plan.TaskId] = group;
        LogMapped(_dagId, _runId, parent.Key, items.Length);
        parent.State = TaskState.Running;
        RecordTask(parent, null);
        await LaunchInstancesAsync(group);
    }

    /// <summary>Launches pending instances while the mapped task's cap allows.</summary>
    private async Task LaunchInstancesAsync(MapGroup group)
    {
        while (_state == RunState.Running && group.TakeNext() is { } instance)
        {
            await LaunchAttemptAsync(instance);
        }
    }

    /// <summary>After an instance changed: launches the next ones, or sums the mapped task up once all are final.</summary>
    private async Task AdvanceMapAsync(string taskId)
    {
        if (!_groups.TryGetValue(taskId, out var group))
        {
            return;
        }
        var summary = group.Summary();
        if (group.Parent.State != summary && (_state == RunState.Running || group.AllFinal))
        {
            group.Parent.State = summary;
            RecordTask(group.Parent, null);
        }
        if (!group.AllFinal)
        {
            await LaunchInstancesAsync(group);
        }
    }

    /// <summary>Fails a task before any job exists (its map list or condition could not be evaluated): one attempt with the reason, no job.</summary>
    private void FailBeforeJob(FoldedTask task, string reason)
    {
        var now = time.GetUtcNow();
        var attempt = new AttemptDetails
        {
            Attempt = task.Attempts.Count + 1,
            State = AttemptState.Failed,
            QueuedAt = now,
            EndedAt = now,
            Reason = reason,
            Backend = _defs[task.Plan.TaskId].Backend,
        };
        task.Attempts.Add(attempt);
        task.State = TaskState.Failed;
        using (TraceScope(S.TraceParent))
        {
            LogAttemptEnded(_dagId, _runId, task.Key, attempt.Attempt, AttemptState.Failed, reason);
        }
        RecordTask(task, attempt);
        StartAttemptSpan(task, attempt.Attempt);
        AttemptEnded(task, attempt);
    }

    private static string Shorten(string text) => text.Length <= 80 ? $"'{text}'" : $"'{text[..77]}...'";

    /// <summary>The template values for work the run does itself (a condition, a map's list), with the outputs of <paramref name="outputTasks"/>.</summary>
    private TemplateContext ContextFor(FoldedTask task, TaskDefinition def, IEnumerable<string> outputTasks) =>
        new(_dagId, _runId, def.TaskId, task.Attempts.Count + 1, S.LogicalDate, S.Params, null, null, OutputsOf(outputTasks), TriggeringDatasetsJson());

    /// <summary>The outputs (JSON text) of tasks, by id: a mapped task's is the list of its instances' outputs; a task without one is left out.</summary>
    private ImmutableDictionary<string, string> OutputsOf(IEnumerable<string> taskIds)
    {
        var outputs = ImmutableDictionary.CreateBuilder<string, string>(StringComparer.Ordinal);
        foreach (var id in taskIds.Distinct(StringComparer.Ordinal))
        {
            if (!_tasks.TryGetValue(id, out var task))
            {
                continue;
            }
            if (task.Instances.Count > 0 && task.MapItems is not null)
            {
                outputs[id] = Outputs.List(task.Instances.Select(i => i.Output()));
            }
            else if (task.Output() is { } output)
            {
                outputs[id] = output;
            }
        }
        return outputs.ToImmutable();
    }

    /// <summary>Makes the task's next attempt (after its pool grants a slot) and orders its supervisor once the attempt is durable.</summary>
    private async Task LaunchAttemptAsync(FoldedTask task)
    {
        var def = _defs[task.Plan.TaskId];
        task.State = TaskState.Queued;
        task.NextAttemptAt = null;
        task.Deadline = null;
        if (pools.IsLimited(def.Pool) && !await GrainFactory.GetGrain<IPoolGrain>(def.Pool).AcquireAsync(HolderOf(task)))
        {
            // In line: the pool calls OnPoolSlotAsync when the slot is ours.
            RecordTask(task, null);
            return;
        }
        var attempt = new AttemptDetails
        {
            Attempt = task.Attempts.Count + 1,
            State = AttemptState.Queued,
            QueuedAt = time.GetUtcNow(),
            Backend = def.Backend,
        };
        task.Attempts.Add(attempt);
        StartAttemptSpan(task, attempt.Attempt);
        await OrderWithinQuotaAsync(task, attempt, recorded: false);
    }

    /// <summary>
    /// Orders the supervisor of a queued attempt once it holds its quota (<c>Batchyard:Quotas:TYPE</c>); until then
    /// the attempt stays queued, saying how much of the quota is in use, and the quota wakes the run when its turn comes.
    /// </summary>
    private async Task OrderWithinQuotaAsync(FoldedTask task, AttemptDetails attempt, bool recorded = true)
    {
        if (QuotaOf(task) is { } quota)
        {
            var admission = await GrainFactory.GetGrain<IPoolGrain>(quota.Pool).AcquireUnitsAsync(HolderOf(task), quota.Units);
            if (!admission.Granted)
            {
                var waiting = $"{WaitingForQuota}{quota.Resource} {admission.InUse} of {admission.Slots} in use"
                    + (admission.Ahead > 0 ? $", {admission.Ahead} ahead" : "");
                if (!recorded || attempt.Reason != waiting)
                {
                    attempt = attempt with { Reason = waiting };
                    task.Attempts[attempt.Attempt - 1] = attempt;
                    RecordTask(task, attempt);
                }
                return;
            }
        }
        if (attempt.Reason?.StartsWith(WaitingForQuota, StringComparison.Ordinal) == true)
        {
            attempt = attempt with { Reason = null };
            task.Attempts[attempt.Attempt - 1] = attempt;
            recorded = false;
        }
        if (!recorded)
        {
            RecordTask(task, attempt);
        }
        var order = OrderFor(task, attempt.Attempt, acknowledged: false);
        _writer.AfterDurable(() => Supervisor(order.Job).RunAsync(order));
    }

    /// <summary>How the reason of an attempt that waits for its quota begins.</summary>
    public const string WaitingForQuota = "waiting for quota: ";

    /// <summary>The configured quota one attempt of the task takes from (its backend says what it holds), or null.</summary>
    private (string Pool, string Resource, int Units)? QuotaOf(FoldedTask task)
    {
        var def = _defs[task.Plan.TaskId];
        if (backends.Find(def.Backend)?.ClaimOf(def) is not { } claim)
        {
            return null;
        }
        var pool = PoolSettings.QuotaPool(claim.Resource);
        return pools.IsLimited(pool) ? (pool, claim.Resource, claim.Units) : null;
    }

    /// <summary>Launches retries that are due and times out attempts past their deadline, then re-arms the one timer.</summary>
    private async Task OnDueCoreAsync()
    {
        _timerAt = null;
        var now = time.GetUtcNow();
        while (_state == RunState.Running && _due.PopDue(now) is { } taskId)
        {
            var task = _tasks[taskId];
            if (task.State == TaskState.UpForRetry && task.NextAttemptAt <= now)
            {
                await LaunchAttemptAsync(task);
            }
            else if (task.State == TaskState.Running && task.Deadline <= now && Current(task) is { } current)
            {
                var timeout = Durations.Format(_defs[task.Plan.TaskId].Timeout ?? TimeSpan.Zero);
                LogTimedOut(_dagId, _runId, taskId, current.Attempt, timeout);
                await EndAttemptAsync(task, current, AttemptState.TimedOut, $"timed out after {timeout}", exitCode: null, jobEnded: false, allowRetry: true);
            }
        }
        ArmTimer();
    }

    /// <summary>One timer for the run: the earliest retry or deadline of any task, on the injected clock.</summary>
    private void ArmTimer()
    {
        if (_state != RunState.Running || _due.Earliest is not { } at)
        {
            _timer?.Cancel();
            _timerAt = null;
            return;
        }
        if (_timerAt == at)
        {
            return;
        }
        _timerAt = at;
        var self = this.AsReference<IRunCallbacks>();
        Timer.Arm(at, LongestTimer, self.OnDueAsync);
    }

    /// <summary>Airflow's rule: the run failed when any leaf task failed (or could not run); otherwise it succeeded.</summary>
    private RunState LeafOutcome() =>
        S.Dag!.Tasks.Where(t => !_downstream.TryGetValue(t.TaskId, out var children) || children.Count == 0)
            .Any(t => _tasks[t.TaskId].State.IsFailure())
            ? RunState.Failed
            : RunState.Succeeded;

    private void Finish(RunState state)
    {
        _state = state;
        _endedAt = time.GetUtcNow();
        RecordRunState();
        using (TraceScope(S.TraceParent))
        {
            LogFinished(_dagId, _runId, state);
        }
        var dagId = _dagId;
        var name = JournalJson.StateName(state);
        _writer.AfterDurable(() =>
        {
            metrics.RunEnded(dagId, name);
            return Task.CompletedTask;
        });
        BatchyardTracing.End(_runSpan, name);
        _runSpan = null;
        ArmTimer();
        NoticeRunEnd(state, Details());
    }

    /// <summary>
    /// Registers the wake reminder from a task of its own (retried while storage is away), so that neither the
    /// run nor its DAG grain waits on the reminder table; until it lands, a failover still finds the run
    /// through the journal's projection of running runs.
    /// </summary>
    private void ArmWake()
    {
        if (!_wakeArming.IsCompleted || _wake is not null)
        {
            // Being registered, or registered by this activation (a run made ahead of its slot, begun at it).
            return;
        }
        _wakeArming = ArmWakeAsync();
    }

    private async Task ArmWakeAsync()
    {
        await Task.Yield();
        for (var attempt = 1; !_life.IsCancellationRequested; attempt++)
        {
            try
            {
                _wake = await this.RegisterOrUpdateReminder(WakeReminder, wake.Value.WakePeriod, wake.Value.WakePeriod);
                return;
            }
            catch (Exception ex) when (ex is not OperationCanceledException && attempt < 10)
            {
                LogWakeFailed(_dagId, _runId, ex.Message);
                await Task.Delay(TimeSpan.FromSeconds(Math.Min(30, attempt * 2)));
            }
        }
    }

    private async Task UnregisterWakeAsync()
    {
        await _wakeArming;
        if ((_wake ?? await this.GetReminder(WakeReminder)) is { } reminder)
        {
            _wake = null;
            await this.UnregisterReminder(reminder);
        }
    }

    private void RecordCreated() => _writer.Record(RunEventKinds.RunCreated, null, new RunCreatedFact(
        S.LogicalDate, S.Params, S.RunType, S.Dag!.Version, S.QueuedAt,
        [.. S.Dag.Tasks.Select(t => new PlannedTask(t.TaskId, t.Upstream, t.Backend))], S.TriggeredBy), time.GetUtcNow());

    private void RecordRunState()
    {
        _writer.Record(RunEventKinds.RunState, null, new RunStateFact(_state, _startedAt, _endedAt), time.GetUtcNow());
        // Run-level changes are pushed at once; the DAG grain hears of them once they are durable.
        _writer.AfterDurable(() =>
        {
            TellDagSoon();
            Publish();
            return Task.CompletedTask;
        });
    }

    private void RecordTask(FoldedTask task, AttemptDetails? touched)
    {
        _due.Set(task);
        Contribute(task);
        _writer.Record(RunEventKinds.Task, task.Key, task.ToFact(touched), time.GetUtcNow());
        HandOverDatasets(task);
        // Task changes reach live views in batches: one snapshot per moment, however many tasks changed in it.
        _publishTimer ??= this.RegisterGrainTimer(PublishSoonAsync, PublishDelay, Timeout.InfiniteTimeSpan);
    }

    /// <summary>What the task now counts as for its downstream tasks: an instance changes its mapped task's counts.</summary>
    private void Contribute(FoldedTask task)
    {
        var id = task.Plan.TaskId;
        if (task.Plan.MapIndex is not null)
        {
            if (_groups.TryGetValue(id, out var owner))
            {
                owner.Observe(task);
                _ready.Contribute(_index[id], owner.Counts);
            }
            return;
        }
        if (_groups.TryGetValue(id, out var group))
        {
            _ready.Contribute(_index[id], group.Counts);
            return;
        }
        _ready.Observe(_index[id], task.State);
    }

    private Task PublishSoonAsync(CancellationToken cancellationToken)
    {
        _publishTimer?.Dispose();
        _publishTimer = null;
        Publish();
        return Task.CompletedTask;
    }

    /// <summary>Tells this silo's live views and the run's watchers (on any silo or client) the run's snapshot.</summary>
    private void Publish()
    {
        var details = Details();
        events.Publish(details);
        _watchers?.Notify(w => w.OnRunChangedAsync(details));
    }

    /// <summary>
    /// Tells the DAG grain the run's own state (it cares about that, not each task's), from a loop of its own
    /// that no request waits on (the DAG grain may be waiting on this run). Failed tells are repeated a few
    /// times here and then by the wake reminder, which stays until the DAG grain has heard the outcome.
    /// </summary>
    private void TellDagSoon()
    {
        _tellPending = true;
        if (_telling.IsCompleted)
        {
            _telling = TellLoopAsync();
        }
    }

    private async Task TellLoopAsync()
    {
        await Task.Yield();
        var failures = 0;
        while (_tellPending && !_life.IsCancellationRequested)
        {
            _tellPending = false;
            var summary = RunSummary.From(Details() with { Tasks = [] });
            try
            {
                await GrainFactory.GetGrain<IDagGrain>(_dagId).OnRunChangedAsync(summary);
                _dagHeard = summary.State;
                failures = 0;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                LogTellFailed(_dagId, _runId, ex.Message);
                if (++failures >= 5)
                {
                    break;
                }
                _tellPending = true;
                await Task.Delay(TimeSpan.FromSeconds(failures));
            }
        }
        await RetireIfDoneAsync();
    }

    /// <summary>Drops the wake reminder once the run is over, its DAG grain knows it, its notices are handed over, and no job still owes a stop.</summary>
    private async Task RetireIfDoneAsync()
    {
        if (_state.IsFinal() && _dagHeard == _state && !OwesNotices && !_tasks.Values.Any(t => t.StopPending.Count > 0) && !LateHandOversOwed())
        {
            await UnregisterWakeAsync();
        }
    }

    private void OrderStop(FoldedTask task, int attempt)
    {
        var job = JobOf(task, attempt);
        _writer.AfterDurable(() => Supervisor(job).StopAsync(job));
    }

    /// <summary>Once the attempt's end is durable its supervisor may go: a later order finds the end in the journal.</summary>
    private void ReleaseSupervisor(FoldedTask task, int attempt)
    {
        var job = JobOf(task, attempt);
        _writer.AfterDurable(() => Supervisor(job).ReleaseAsync());
    }

    private void ReleasePoolSlot(FoldedTask task)
    {
        var pool = _defs[task.Plan.TaskId].Pool;
        var holder = HolderOf(task);
        if (pools.IsLimited(pool))
        {
            _writer.AfterDurable(() => GrainFactory.GetGrain<IPoolGrain>(pool).ReleaseAsync(holder));
        }
        if (QuotaOf(task) is { } quota)
        {
            _writer.AfterDurable(() => GrainFactory.GetGrain<IPoolGrain>(quota.Pool).ReleaseAsync(holder));
        }
    }

    private string HolderOf(FoldedTask task) => RunKeys.Task(_dagId, _runId, task.Key);

    private static AttemptDetails? Current(FoldedTask task) =>
        task.Attempts.Count > 0 && !task.Attempts[^1].State.IsFinal() ? task.Attempts[^1] : null;

    private JobRef JobOf(FoldedTask task, int attempt) => new()
    {
        Backend = _defs[task.Plan.TaskId].Backend,
        JobName = JobNames.For(_dagId, _runId, task.Plan.TaskId, attempt, task.Plan.MapIndex),
        DagId = _dagId,
        RunId = _runId,
        TaskId = task.Plan.TaskId,
        Attempt = attempt,
        MapIndex = task.Plan.MapIndex,
        TraceParent = _attemptTraceParents.GetValueOrDefault((task.Key, attempt)),
    };

    private JobOrder OrderFor(FoldedTask task, int attempt, bool acknowledged) => new()
    {
        // An attempt that a former activation started gets a span again here (its first one ended with that activation).
        Job = JobOf(task, attempt) with { TraceParent = _attemptTraceParents.GetValueOrDefault((task.Key, attempt)) ?? StartAttemptSpan(task, attempt) },
        Task = _defs[task.Plan.TaskId],
        LogicalDate = S.LogicalDate,
        Params = S.Params,
        Acknowledged = acknowledged,
        Item = task.Plan.MapIndex is { } index && _tasks.TryGetValue(task.Plan.TaskId, out var parent) && parent.MapItems is { } items && index < items.Length ? items[index] : null,
        Outputs = _outputRefs.TryGetValue(task.Plan.TaskId, out var refs) && refs.Length > 0 ? OutputsOf(refs) : ImmutableDictionary<string, string>.Empty,
        TriggeringDatasets = TriggeringDatasetsJson(),
    };

    /// <summary>
    /// A log scope with the trace and span ids of <paramref name="traceParent"/>: a grain turn has no current span
    /// (the run's spans outlive turns), so the lines about a run name its trace themselves, as the logger's own
    /// activity scope would.
    /// </summary>
    private IDisposable? TraceScope(string? traceParent) =>
        traceParent is not null && ActivityContext.TryParse(traceParent, null, out var context)
            ? logger.BeginScope(new Dictionary<string, object> { ["TraceId"] = context.TraceId.ToHexString(), ["SpanId"] = context.SpanId.ToHexString() })
            : null;

    /// <summary>Starts the span of one attempt under the run's root span; returns its traceparent (null when nothing traces).</summary>
    private string? StartAttemptSpan(FoldedTask task, int attempt)
    {
        var span = BatchyardTracing.StartDetached($"attempt {task.Key}", S.TraceParent);
        if (span is null)
        {
            return null;
        }
        span.SetTag("batchyard.dag", _dagId).SetTag("batchyard.run", _runId).SetTag("batchyard.task", task.Key)
            .SetTag("batchyard.attempt", attempt).SetTag("batchyard.backend", _defs[task.Plan.TaskId].Backend);
        _attemptSpans[(task.Key, attempt)] = span;
        var traceParent = BatchyardTracing.TraceParent(span)!;
        _attemptTraceParents[(task.Key, attempt)] = traceParent;
        return traceParent;
    }

    /// <summary>Counts an ended attempt once its end is durable, and ends its span.</summary>
    private void AttemptEnded(FoldedTask task, AttemptDetails ended)
    {
        var outcome = JournalJson.StateName(ended.State);
        if (_attemptSpans.Remove((task.Key, ended.Attempt), out var span))
        {
            BatchyardTracing.End(span, outcome, ended.Reason);
        }
        var ran = ended.EndedAt - (ended.StartedAt ?? ended.QueuedAt);
        var backend = ended.Backend is { Length: > 0 } named ? named : _defs[task.Plan.TaskId].Backend;
        _writer.AfterDurable(() =>
        {
            metrics.AttemptEnded(backend, outcome, ran);
            return Task.CompletedTask;
        });
    }

    private IJobSupervisorGrain Supervisor(JobRef job) => GrainFactory.GetGrain<IJobSupervisorGrain>(job.JobName);

    private List<string> Downstream(string taskId)
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
        return [.. S.Dag!.Tasks.Select(t => t.TaskId).Where(result.Contains)];
    }

    private void IndexDag()
    {
        _defs = S.Dag!.Tasks.ToDictionary(t => t.TaskId, StringComparer.Ordinal);
        _outputRefs = S.Dag.Tasks.ToDictionary(
            t => t.TaskId,
            t => t.Command.Concat(t.Args).Concat(t.Env.Values).Append(t.OutputJson ?? "").SelectMany(Templates.OutputTasks).Distinct(StringComparer.Ordinal).ToArray(),
            StringComparer.Ordinal);
        _downstream = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (var task in S.Dag.Tasks)
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

    /// <summary>Indexes the run's tasks in DAG order and takes in their states: due times and upstream tallies.</summary>
    private void TrackTasks()
    {
        var dag = S.Dag!.Tasks;
        _index = new Dictionary<string, int>(dag.Length, StringComparer.Ordinal);
        for (var i = 0; i < dag.Length; i++)
        {
            _index[dag[i].TaskId] = i;
        }
        _ordered = [.. dag.Select(t => _tasks[t.TaskId])];
        _ready = new ReadyTracker([.. dag.Select(t => (IReadOnlyList<int>)[.. t.Upstream.Select(u => _index[u])])]);
        _groups.Clear();
        foreach (var task in _tasks.Values)
        {
            _due.Set(task);
        }
        for (var i = 0; i < _ordered.Length; i++)
        {
            var task = _ordered[i];
            if (task.MapItems is not null && task.Instances.Count > 0 && task.State != TaskState.Pending && dag[i].Map is { } map)
            {
                // Expanded before this activation (and not cleared since): its instances count again.
                _groups[task.Plan.TaskId] = new MapGroup(task, map.MaxActive);
            }
            Contribute(task);
        }
        _ready.MarkAllDirty();
    }

    private void InitTasks() =>
        _tasks = S.Dag!.Tasks.ToDictionary(t => t.TaskId, t => new FoldedTask(new PlannedTask(t.TaskId, t.Upstream, t.Backend)), StringComparer.Ordinal);

    private RunDetails Details() => new()
    {
        DagId = _dagId,
        RunId = _runId,
        State = _state,
        LogicalDate = S.LogicalDate,
        Params = S.Params,
        QueuedAt = S.QueuedAt,
        StartedAt = _startedAt,
        EndedAt = _endedAt,
        RunType = S.RunType,
        TriggeredBy = S.TriggeredBy,
        TriggeringDatasets = S.TriggeringDatasets,
        DagVersion = S.Dag?.Version ?? "",
        Tasks = FoldedRun.Entries(_ordered, _tasks.Count),
        CostUsd = AttemptCost.Sum(_tasks.Values.SelectMany(t => t.Attempts).Select(a => a.Cost)),
        Late = _lateDeadline is not null,
    };

    private void RunEffectFailed(Exception ex) => LogEffectFailed(_dagId, _runId, ex.Message);

    [LoggerMessage(Level = LogLevel.Information, Message = "{DagId}/{RunId}: created (start now: {StartNow})")]
    private partial void LogCreated(string dagId, string runId, bool startNow);

    [LoggerMessage(Level = LogLevel.Information, Message = "{DagId}/{RunId}: {State}")]
    private partial void LogFinished(string dagId, string runId, RunState state);

    [LoggerMessage(Level = LogLevel.Information, Message = "{DagId}/{RunId}: cancel requested")]
    private partial void LogCancelled(string dagId, string runId);

    [LoggerMessage(Level = LogLevel.Information, Message = "{DagId}/{RunId}: cleared {TaskId} and {Count} task(s) with its downstream")]
    private partial void LogCleared(string dagId, string runId, string taskId, int count);

    [LoggerMessage(Level = LogLevel.Information, Message = "{DagId}/{RunId}/{TaskId} attempt {Attempt}: {State} {Reason}")]
    private partial void LogAttemptEnded(string dagId, string runId, string taskId, int attempt, AttemptState state, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "{DagId}/{RunId}/{TaskId} attempt {Attempt} failed ({Reason}); retrying in {Delay}")]
    private partial void LogRetrying(string dagId, string runId, string taskId, int attempt, string reason, TimeSpan delay);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{DagId}/{RunId}/{TaskId} attempt {Attempt}: timed out after {Timeout}; stopping its job")]
    private partial void LogTimedOut(string dagId, string runId, string taskId, int attempt, string timeout);

    [LoggerMessage(Level = LogLevel.Information, Message = "{DagId}/{RunId}/{TaskId}: skipped, its condition is false: {When}")]
    private partial void LogConditionFalse(string dagId, string runId, string taskId, string when);

    [LoggerMessage(Level = LogLevel.Information, Message = "{DagId}/{RunId}/{TaskId}: skipped, its map list is empty")]
    private partial void LogMapEmpty(string dagId, string runId, string taskId);

    [LoggerMessage(Level = LogLevel.Information, Message = "{DagId}/{RunId}/{TaskId}: mapped over {Count} items")]
    private partial void LogMapped(string dagId, string runId, string taskId, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{DagId}/{RunId}: registering the wake reminder failed (tried again): {Error}")]
    private partial void LogWakeFailed(string dagId, string runId, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{DagId}/{RunId}: telling the DAG grain failed (tried again): {Error}")]
    private partial void LogTellFailed(string dagId, string runId, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{DagId}/{RunId}: an action after a journal write failed (the next wake-up repeats it): {Error}")]
    private partial void LogEffectFailed(string dagId, string runId, string error);
}
