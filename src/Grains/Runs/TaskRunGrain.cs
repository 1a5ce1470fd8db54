using System.Collections.Immutable;
using Batchyard.Backends;
using Batchyard.Dags;
using Batchyard.Grains;
using Batchyard.Logs;
using Batchyard.Scheduling;
using Batchyard.Secrets;
using Microsoft.Extensions.Logging;

namespace Batchyard.Runs;

/// <summary>
/// One task instance: makes its attempts on the task's backend, follows each job, applies timeout and retries,
/// and tells its run grain about every change. The job's name is persisted before the job is submitted, so a
/// reactivated grain re-attaches to the job it made instead of making a second.
/// </summary>
public sealed partial class TaskRunGrain(
    [PersistentState("task", StorageNames.Batchyard)] IPersistentState<TaskRunState> store,
    BackendCatalog backends,
    Batchyard.Pools.PoolSettings pools,
    IAttemptLogStore logs,
    ISecretResolver secrets,
    [Microsoft.Extensions.DependencyInjection.FromKeyedServices(BatchyardClock.Key)] TimeProvider time,
    ILogger<TaskRunGrain> logger) : Grain, ITaskRunGrain, ITaskRunCallbacks
{
    private static readonly TimeSpan RewatchDelay = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan LongestTimer = TimeSpan.FromHours(12);

    private readonly CancellationTokenSource _life = new();
    private string _dagId = "";
    private string _runId = "";
    private string _taskId = "";
    private int _watching;
    private Task? _watchTask;
    private int _deferrals;
    private CancellationTokenSource? _watchCts;
    private CancellationTokenSource? _timerCts;
    private DateTimeOffset? _rewatchAt;
    private readonly HashSet<string> _stopsInFlight = new(StringComparer.Ordinal);

    private TaskRunState S => store.State;

    private AttemptDetails? Current => S.Job is { } job && job.Attempt <= S.Attempts.Count ? S.Attempts[job.Attempt - 1] : null;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        (_dagId, _runId, _taskId) = RunKeys.ParseTask(this.GetPrimaryKeyString());
        if (S.Job is not null || S.StopPending.Count > 0 || S.State is TaskState.UpForRetry or TaskState.Queued)
        {
            // Re-attach after a restart or a failover, as a turn of its own.
            this.AsReference<ITaskRunGrain>().AdvanceAsync().Ignore();
        }
        return Task.CompletedTask;
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        _life.Cancel();
        return Task.CompletedTask;
    }

    public Task StartAsync(TaskStart start)
    {
        if (S.State != TaskState.Pending)
        {
            return Task.CompletedTask;
        }
        S.Task = start.Task;
        S.LogicalDate = start.LogicalDate;
        S.Params = start.Params;
        S.State = TaskState.Queued;
        // Not written yet: the attempt's own write follows at once, and a start lost with a silo is sent
        // again by the run's wake-up (it sees this task pending or missing).
        S.Sequence++;
        Publish();
        this.AsReference<ITaskRunGrain>().AdvanceAsync().Ignore();
        return Task.CompletedTask;
    }

    public Task<TaskInstanceDetails?> GetAsync() => Task.FromResult(S.Task is null ? null : Snapshot());

    public async Task CancelAsync()
    {
        if (S.Task is null || S.State.IsFinal())
        {
            return;
        }
        await InterruptAsync("cancelled", TaskState.Cancelled);
    }

    public async Task ClearAsync()
    {
        if (S.Task is null || S.State == TaskState.Pending)
        {
            return;
        }
        S.AttemptsAtClear = S.Attempts.Count;
        await InterruptAsync("cleared", TaskState.Pending);
    }

    /// <summary>Takes a slot of the task's pool, or waits in line (the pool wakes this grain); true for unlimited pools.</summary>
    private async Task<bool> TakePoolSlotAsync() =>
        !pools.IsLimited(S.Task!.Pool)
        || await GrainFactory.GetGrain<IPoolGrain>(S.Task.Pool).AcquireAsync(this.GetPrimaryKeyString());

    /// <summary>Gives back the pool slot (or the place in line) when an attempt is over.</summary>
    private async Task ReleasePoolSlotAsync()
    {
        if (S.Task is { } task && pools.IsLimited(task.Pool))
        {
            await GrainFactory.GetGrain<IPoolGrain>(task.Pool).ReleaseAsync(this.GetPrimaryKeyString());
        }
    }

    /// <summary>Ends the running attempt (its job is stopped in the background) and moves the task to <paramref name="next"/>.</summary>
    private async Task InterruptAsync(string reason, TaskState next)
    {
        EndCurrentAttempt(AttemptState.Cancelled, reason);
        S.State = next;
        S.NextAttemptAt = null;
        S.Deadline = null;
        MoveJobToStopPending();
        await SaveAndPublishAsync();
        await ReleasePoolSlotAsync();
        RearmTimer();
        BeginPendingStops();
    }

    public async Task AdvanceAsync()
    {
        var now = time.GetUtcNow();
        if (_rewatchAt is { } rewatch && rewatch <= now)
        {
            // Due now: what it was for (a re-watch, a stop, a submit) happens below; it must not re-arm itself.
            _rewatchAt = null;
        }
        BeginPendingStops();
        switch (S.State)
        {
            case TaskState.Queued when S.Job is null:
            case TaskState.UpForRetry when S.NextAttemptAt is null || S.NextAttemptAt <= now:
                if (await TakePoolSlotAsync())
                {
                    await LaunchAttemptAsync();
                }
                break;
            case TaskState.Queued or TaskState.Submitted or TaskState.Running when Current is { } attempt:
                if (attempt.State == AttemptState.Queued)
                {
                    // Persisted but never acknowledged: submit again; backends adopt a job of the same name.
                    await SubmitCurrentAsync();
                }
                else if (S.Deadline is { } deadline && deadline <= now)
                {
                    await TimeOutAsync();
                }
                else
                {
                    EnsureWatching();
                    RearmTimer();
                }
                break;
            default:
                RearmTimer();
                break;
        }
    }

    async Task ITaskRunCallbacks.OnJobStatusAsync(int attempt, JobStatusUpdate status)
    {
        if (S.Job is not { } job || job.Attempt != attempt || Current is not { } current || current.State.IsFinal())
        {
            return;
        }
        await ApplyStatusAsync(current, status);
    }

    Task ITaskRunCallbacks.OnWatchFailedAsync(int attempt, string error)
    {
        if (_watching == attempt)
        {
            LogWatchFailed(_dagId, _runId, _taskId, attempt, error);
            _watching = 0;
            _rewatchAt = time.GetUtcNow() + RewatchDelay;
            RearmTimer();
        }
        return Task.CompletedTask;
    }

    async Task ITaskRunCallbacks.OnJobStoppedAsync(string jobName, string? error)
    {
        _stopsInFlight.Remove(jobName);
        if (error is not null)
        {
            LogStopFailed(_dagId, _runId, _taskId, jobName, error);
            _rewatchAt = time.GetUtcNow() + RewatchDelay;
            RearmTimer();
            return;
        }
        if (S.StopPending.RemoveAll(j => j.JobName == jobName) > 0)
        {
            await store.WriteStateAsync();
        }
    }

    private async Task LaunchAttemptAsync()
    {
        var task = S.Task!;
        var number = S.Attempts.Count + 1;
        S.Attempts.Add(new AttemptDetails
        {
            Attempt = number,
            State = AttemptState.Queued,
            QueuedAt = time.GetUtcNow(),
            Backend = task.Backend,
        });
        S.Job = new JobRef
        {
            Backend = task.Backend,
            JobName = JobNames.For(_dagId, _runId, _taskId, number),
            DagId = _dagId,
            RunId = _runId,
            TaskId = _taskId,
            Attempt = number,
        };
        S.State = TaskState.Queued;
        S.NextAttemptAt = null;
        S.Deadline = null;
        // The job's name is durable before the job exists: a crash from here on re-attaches, never doubles.
        await SaveAndPublishAsync();
        await SubmitCurrentAsync();
    }

    private async Task SubmitCurrentAsync()
    {
        var job = S.Job!;
        var current = Current!;
        TaskDefinition rendered;
        try
        {
            rendered = Templates.RenderTask(S.Task!, new TemplateContext(_dagId, _runId, _taskId, job.Attempt, S.LogicalDate, S.Params));
        }
        catch (TemplateException ex)
        {
            // The same template fails the same way on every retry: end the task now.
            await EndAttemptAsync(current, AttemptState.Failed, $"template: {ex.Message}", exitCode: null, jobEnded: true, allowRetry: false);
            return;
        }

        // Secrets resolve here, at submit time, into the backend's request only: state and snapshots keep `secret:NAME`.
        (rendered, var missingSecret) = TaskSecrets.Resolve(rendered, secrets);
        if (missingSecret is not null)
        {
            await EndAttemptAsync(current, AttemptState.Failed, $"secret '{missingSecret}' is not configured on the server ({ConfigurationSecretResolver.Section}:{missingSecret})", exitCode: null, jobEnded: true, allowRetry: false);
            return;
        }

        if (backends.Find(job.Backend) is not { } backend)
        {
            await EndAttemptAsync(current, AttemptState.Failed, $"backend '{job.Backend}' is not available on this silo", exitCode: null, jobEnded: true, allowRetry: true);
            return;
        }

        LogSubmitting(_dagId, _runId, _taskId, job.Attempt, job.Backend, job.JobName);
        JobStatus status;
        try
        {
            var request = new JobRequest
            {
                Job = job,
                Task = rendered,
                LogicalDate = S.LogicalDate,
                Log = OpenLog(job.Attempt),
            };
            status = await backend.SubmitAsync(request, _life.Token);
        }
        catch (TransientBackendException ex)
        {
            // Throttled or the service is briefly away: the attempt stays queued and is submitted again
            // (the backend adopts a job of the same name), without holding this grain's turn meanwhile.
            var delay = TimeSpan.FromSeconds(Math.Min(60, 2 * Math.Pow(2, Math.Min(_deferrals++, 5))) * (0.8 + (0.4 * Random.Shared.NextDouble())));
            LogSubmitDeferred(_dagId, _runId, _taskId, job.Attempt, ex.Message, delay);
            _rewatchAt = time.GetUtcNow() + delay;
            RearmTimer();
            return;
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !_life.IsCancellationRequested)
        {
            // The job may exist although the answer was lost: it is stopped (a no-op when it does not).
            LogSubmitFailed(_dagId, _runId, _taskId, job.Attempt, ex.Message);
            await EndAttemptAsync(current, AttemptState.Failed, $"submit failed: {ex.Message}", exitCode: null, jobEnded: false, allowRetry: true);
            return;
        }
        _deferrals = 0;

        await ApplyStatusAsync(Current!, JobStatusUpdate.From(status), acknowledged: true);
    }

    private async Task ApplyStatusAsync(AttemptDetails current, JobStatusUpdate status, bool acknowledged = false)
    {
        var index = current.Attempt - 1;
        var jobId = status.JobId ?? current.JobId;
        var details = status.Details.IsEmpty ? current.Details : current.Details.SetItems(status.Details);
        switch (status.State)
        {
            case JobState.Queued:
                if (current.State == AttemptState.Submitted && !acknowledged && jobId == current.JobId && details == current.Details)
                {
                    return;
                }
                S.Attempts[index] = current with { State = AttemptState.Submitted, JobId = jobId, Details = details };
                S.State = TaskState.Submitted;
                break;
            case JobState.Running:
                if (current.State == AttemptState.Running && jobId == current.JobId && details == current.Details)
                {
                    return;
                }
                var startedAt = current.StartedAt ?? status.StartedAt ?? time.GetUtcNow();
                S.Attempts[index] = current with { State = AttemptState.Running, JobId = jobId, StartedAt = startedAt, Details = details };
                S.State = TaskState.Running;
                S.Deadline = S.Task!.Timeout is { } timeout ? startedAt + timeout : null;
                break;
            case JobState.Succeeded:
                S.Attempts[index] = current with { JobId = jobId, Details = details, StartedAt = current.StartedAt ?? status.StartedAt };
                await EndAttemptAsync(S.Attempts[index], AttemptState.Succeeded, null, status.ExitCode, jobEnded: true, allowRetry: false, status.EndedAt);
                return;
            case JobState.TimedOut:
                S.Attempts[index] = current with { JobId = jobId, Details = details, StartedAt = current.StartedAt ?? status.StartedAt };
                await EndAttemptAsync(S.Attempts[index], AttemptState.TimedOut, status.Reason ?? "the backend stopped the job at its maximum runtime", status.ExitCode, jobEnded: true, allowRetry: true, status.EndedAt);
                return;
            default:
                var reason = status.State switch
                {
                    JobState.Stopped => "the job was stopped outside Batchyard" + (status.Reason is null ? "" : $": {status.Reason}"),
                    JobState.Lost => status.Reason ?? "the job was lost",
                    _ => status.Reason ?? (status.ExitCode is { } code ? $"exit code {code}" : "failed"),
                };
                S.Attempts[index] = current with { JobId = jobId, Details = details, StartedAt = current.StartedAt ?? status.StartedAt };
                await EndAttemptAsync(S.Attempts[index], AttemptState.Failed, reason, status.ExitCode, jobEnded: true, allowRetry: true, status.EndedAt);
                return;
        }

        await SaveAndPublishAsync();
        EnsureWatching();
        RearmTimer();
    }

    private async Task TimeOutAsync()
    {
        var timeout = S.Task!.Timeout ?? TimeSpan.Zero;
        LogTimedOut(_dagId, _runId, _taskId, Current!.Attempt, Durations.Format(timeout));
        await EndAttemptAsync(Current!, AttemptState.TimedOut, $"timed out after {Durations.Format(timeout)}", exitCode: null, jobEnded: false, allowRetry: true);
    }

    private async Task EndAttemptAsync(AttemptDetails current, AttemptState state, string? reason, int? exitCode, bool jobEnded, bool allowRetry, DateTimeOffset? endedAt = null)
    {
        var now = time.GetUtcNow();
        S.Attempts[current.Attempt - 1] = current with
        {
            State = state,
            Reason = reason,
            ExitCode = exitCode ?? current.ExitCode,
            EndedAt = endedAt ?? now,
        };
        if (jobEnded)
        {
            S.Job = null;
        }
        else
        {
            MoveJobToStopPending();
        }
        StopWatching();
        S.Deadline = null;

        var attemptsSinceClear = S.Attempts.Count - S.AttemptsAtClear;
        if (state == AttemptState.Succeeded)
        {
            S.State = TaskState.Succeeded;
        }
        else if (allowRetry && attemptsSinceClear <= S.Task!.Retries)
        {
            var delay = RetryPolicy.DelayBefore(S.Task, attemptsSinceClear);
            S.State = TaskState.UpForRetry;
            S.NextAttemptAt = now + delay;
            LogRetrying(_dagId, _runId, _taskId, current.Attempt, reason ?? "", delay);
        }
        else
        {
            S.State = state == AttemptState.TimedOut ? TaskState.TimedOut : TaskState.Failed;
        }

        LogAttemptEnded(_dagId, _runId, _taskId, current.Attempt, state, reason ?? "");
        await SaveAndPublishAsync();
        await ReleasePoolSlotAsync();
        RearmTimer();
        BeginPendingStops();
    }

    private void EndCurrentAttempt(AttemptState state, string reason)
    {
        if (Current is { } current && !current.State.IsFinal())
        {
            S.Attempts[current.Attempt - 1] = current with { State = state, Reason = reason, EndedAt = time.GetUtcNow() };
        }
    }

    private void MoveJobToStopPending()
    {
        if (S.Job is { } job)
        {
            S.StopPending.Add(job);
            S.Job = null;
        }
        StopWatching();
    }

    private void BeginPendingStops()
    {
        foreach (var job in S.StopPending)
        {
            if (!_stopsInFlight.Add(job.JobName))
            {
                continue;
            }
            var self = this.AsReference<ITaskRunCallbacks>();
            var backend = backends.Find(job.Backend);
            var token = _life.Token;
            _ = Task.Run(async () =>
            {
                string? error = null;
                try
                {
                    if (backend is not null)
                    {
                        await backend.StopAsync(job, token);
                    }
                }
                catch (Exception ex) when (!token.IsCancellationRequested)
                {
                    error = ex.Message;
                }
                if (!token.IsCancellationRequested)
                {
                    await self.OnJobStoppedAsync(job.JobName, error);
                }
            }, CancellationToken.None);
        }
    }

    private void EnsureWatching()
    {
        // A watcher whose last report could not be delivered has ended: it counts as not watching.
        if (S.Job is not { } job || (_watching == job.Attempt && _watchTask is { IsCompleted: false }) || backends.Find(job.Backend) is not { } backend)
        {
            return;
        }
        StopWatching();
        _watching = job.Attempt;
        _rewatchAt = null;
        var cts = CancellationTokenSource.CreateLinkedTokenSource(_life.Token);
        _watchCts = cts;
        var token = cts.Token;
        var self = this.AsReference<ITaskRunCallbacks>();
        var log = OpenLog(job.Attempt);
        _watchTask = Task.Run(async () =>
        {
            try
            {
                var ended = false;
                await foreach (var status in backend.WatchAsync(job, log, token))
                {
                    await self.OnJobStatusAsync(job.Attempt, JobStatusUpdate.From(status));
                    ended |= status.IsFinal;
                }
                if (!ended && !token.IsCancellationRequested)
                {
                    await self.OnWatchFailedAsync(job.Attempt, "the backend stopped reporting before the job ended");
                }
            }
            catch (Exception ex) when (!token.IsCancellationRequested)
            {
                try
                {
                    await self.OnWatchFailedAsync(job.Attempt, ex.Message);
                }
                catch (Exception)
                {
                    // The grain is unreachable; the next wake-up finds this watcher ended and starts another.
                }
            }
            catch (OperationCanceledException)
            {
                // Watching ended on purpose (the attempt ended, or the grain deactivated).
            }
        }, CancellationToken.None);
    }

    /// <summary>The attempt's log, writing <c>***</c> for the values of the secrets the task uses.</summary>
    private IAttemptLog OpenLog(int attempt) =>
        TaskSecrets.Masking(logs.Open(_dagId, _runId, _taskId, attempt), TaskSecrets.Values(S.Task!, secrets));

    private void StopWatching()
    {
        _watchCts?.Cancel();
        _watchCts?.Dispose();
        _watchCts = null;
        _watching = 0;
    }

    /// <summary>One timer for whatever comes next: the attempt's deadline, the retry time, or a re-watch.</summary>
    private void RearmTimer()
    {
        _timerCts?.Cancel();
        _timerCts?.Dispose();
        _timerCts = null;

        DateTimeOffset? at = null;
        if (S.State is TaskState.Running && S.Deadline is { } deadline)
        {
            at = deadline;
        }
        if (S.State is TaskState.UpForRetry && S.NextAttemptAt is { } retryAt && (at is null || retryAt < at))
        {
            at = retryAt;
        }
        if (_rewatchAt is { } rewatch && (at is null || rewatch < at))
        {
            at = rewatch;
        }
        if (at is not { } due)
        {
            return;
        }

        var delay = due - time.GetUtcNow();
        delay = delay < TimeSpan.Zero ? TimeSpan.Zero : delay > LongestTimer ? LongestTimer : delay;
        var cts = CancellationTokenSource.CreateLinkedTokenSource(_life.Token);
        _timerCts = cts;
        var token = cts.Token;
        var self = this.AsReference<ITaskRunGrain>();
        _ = Task.Run(async () =>
        {
            try
            {
                await Task.Delay(delay, time, token);
                await self.AdvanceAsync();
            }
            catch (OperationCanceledException)
            {
                // Re-armed or deactivated.
            }
        }, CancellationToken.None);
    }

    private async Task SaveAndPublishAsync()
    {
        S.Sequence++;
        await store.WriteStateAsync();
        Publish();
    }

    private void Publish() =>
        GrainFactory.GetGrain<IDagRunGrain>(RunKeys.Run(_dagId, _runId)).OnTaskChangedAsync(Snapshot()).Ignore();

    private TaskInstanceDetails Snapshot() => new()
    {
        TaskId = _taskId,
        State = S.State,
        Attempts = [.. S.Attempts],
        NextAttemptAt = S.State == TaskState.UpForRetry ? S.NextAttemptAt : null,
        Upstream = S.Task?.Upstream ?? [],
        Backend = S.Task?.Backend ?? "",
        Sequence = S.Sequence,
    };

    [LoggerMessage(Level = LogLevel.Information, Message = "{DagId}/{RunId}/{TaskId} attempt {Attempt}: submitting to {Backend} as {JobName}")]
    private partial void LogSubmitting(string dagId, string runId, string taskId, int attempt, string backend, string jobName);

    [LoggerMessage(Level = LogLevel.Information, Message = "{DagId}/{RunId}/{TaskId} attempt {Attempt}: submit deferred ({Reason}); again in {Delay}")]
    private partial void LogSubmitDeferred(string dagId, string runId, string taskId, int attempt, string reason, TimeSpan delay);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{DagId}/{RunId}/{TaskId} attempt {Attempt}: submit failed: {Error}")]
    private partial void LogSubmitFailed(string dagId, string runId, string taskId, int attempt, string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "{DagId}/{RunId}/{TaskId} attempt {Attempt}: {State} {Reason}")]
    private partial void LogAttemptEnded(string dagId, string runId, string taskId, int attempt, AttemptState state, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "{DagId}/{RunId}/{TaskId} attempt {Attempt} failed ({Reason}); retrying in {Delay}")]
    private partial void LogRetrying(string dagId, string runId, string taskId, int attempt, string reason, TimeSpan delay);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{DagId}/{RunId}/{TaskId} attempt {Attempt}: timed out after {Timeout}; stopping its job")]
    private partial void LogTimedOut(string dagId, string runId, string taskId, int attempt, string timeout);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{DagId}/{RunId}/{TaskId} attempt {Attempt}: following the job failed: {Error}")]
    private partial void LogWatchFailed(string dagId, string runId, string taskId, int attempt, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{DagId}/{RunId}/{TaskId}: stopping job {JobName} failed: {Error}")]
    private partial void LogStopFailed(string dagId, string runId, string taskId, string jobName, string error);
}
