using Batchyard.Backends;
using Batchyard.Dags;
using Batchyard.Grains;
using Batchyard.Logs;
using Batchyard.Secrets;
using Batchyard.Telemetry;
using Microsoft.Extensions.Logging;

namespace Batchyard.Runs;

/// <summary>
/// Supervises one attempt's job (keyed by the job name): renders the task, resolves its secrets, submits it,
/// follows it and stops it, reporting every job fact to the run grain. It holds nothing durable: the run grain
/// owns the attempt, and after a failover sends the order again, which re-attaches (backends adopt a job of
/// the same name) instead of making a second job.
/// </summary>
[CollectionAgeLimit(Minutes = 5)]
public sealed partial class JobSupervisorGrain(
    BackendCatalog backends,
    IAttemptLogStore logs,
    ISecretResolver secrets,
    Batchyard.Costs.AttemptCosts costs,
    CapacityBackoff capacity,
    [Microsoft.Extensions.DependencyInjection.FromKeyedServices(BatchyardClock.Key)] TimeProvider time,
    ILogger<JobSupervisorGrain> logger) : Grain, IJobSupervisorGrain, ISupervisorCallbacks
{
    private static readonly TimeSpan RewatchDelay = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan StoppedCostPatience = TimeSpan.FromSeconds(15);

    /// <summary>How the reason of an attempt that waits for the backend's capacity begins.</summary>
    public const string WaitingForCapacity = "waiting for capacity: ";

    private readonly CancellationTokenSource _life = new();
    private JobOrder? _order;
    private bool _submitted;
    private JobStatusUpdate? _last;
    private int _deferrals;
    private int _capacityRefusals;
    private bool _stopRequested;
    private bool _stopping;
    private bool _stopped;
    private AttemptCost? _stoppedCost;
    private Task? _watchTask;
    private CancellationTokenSource? _watchCts;
    private DateTimeOffset? _dueAt;
    private ClockTimer? _timer;

    private JobRef? Job => _order?.Job;

    /// <summary>The job as backends see it: with its rendered output location (rendered again after a failover).</summary>
    private JobRef BackendJob()
    {
        var job = _order!.Job;
        if (_order.Task.OutputJson is not { } outputJson)
        {
            return job;
        }
        try
        {
            return job with { OutputUri = Templates.Render(outputJson, _order.Context()) };
        }
        catch (TemplateException)
        {
            // The submit already failed on this template; following or stopping the job does not need it.
            return job;
        }
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        _life.Cancel();
        return Task.CompletedTask;
    }

    public async Task RunAsync(JobOrder order)
    {
        if (_order is null)
        {
            _order = order;
            _submitted = order.Acknowledged;
        }
        else if (order.Acknowledged)
        {
            _submitted = true;
        }

        if (_stopRequested)
        {
            return;
        }
        if (_last is { IsFinal: true } last)
        {
            // The run asks again because it may have missed the end: tell it once more.
            Report(new JobReport { TaskId = order.Job.TaskId, Attempt = order.Job.Attempt, MapIndex = order.Job.MapIndex, Status = last });
            return;
        }
        if (!_submitted)
        {
            await SubmitAsync();
        }
        else
        {
            EnsureWatching();
            if (_last is { } latest)
            {
                Report(new JobReport { TaskId = order.Job.TaskId, Attempt = order.Job.Attempt, MapIndex = order.Job.MapIndex, Status = latest });
            }
        }
    }

    public Task StopAsync(JobRef job)
    {
        _order ??= new JobOrder { Job = job, Task = new TaskDefinition { TaskId = job.TaskId, Backend = job.Backend }, Acknowledged = true };
        _stopRequested = true;
        StopWatching();
        if (_stopped)
        {
            Report(new JobReport { TaskId = job.TaskId, Attempt = job.Attempt, MapIndex = job.MapIndex, Stopped = true, Cost = _stoppedCost });
        }
        else
        {
            BeginStop();
        }
        return Task.CompletedTask;
    }

    public Task ReleaseAsync()
    {
        // A stop still under way finishes (and is reported) first.
        if (_stopped || (_last is { IsFinal: true } && !_stopRequested))
        {
            DeactivateOnIdle();
        }
        return Task.CompletedTask;
    }

    private async Task SubmitAsync()
    {
        var order = _order!;
        var job = order.Job;
        TaskDefinition rendered;
        try
        {
            rendered = Templates.RenderTask(order.Task, order.Context());
        }
        catch (TemplateException ex)
        {
            // The same template fails the same way on every retry.
            SubmitFailed($"template: {ex.Message}", retryable: false);
            return;
        }

        // Secrets resolve here, at submit time, into the backend's request only: the run and its journal keep `secret:NAME`.
        (rendered, var missingSecret) = TaskSecrets.Resolve(rendered, secrets);
        if (missingSecret is not null)
        {
            SubmitFailed($"secret '{missingSecret}' is not configured on the server ({ConfigurationSecretResolver.Section}:{missingSecret})", retryable: false);
            return;
        }

        if (backends.Find(job.Backend) is not { } backend)
        {
            SubmitFailed($"backend '{job.Backend}' is not available on this silo", retryable: true);
            return;
        }

        IAttemptLog log;
        try
        {
            log = await OpenLogAsync(order, _life.Token);
        }
        catch (Exception ex) when (!_life.IsCancellationRequested)
        {
            // The log store is briefly away (its database stalls): a storage fault never fails the attempt.
            Defer(job, ex.Message);
            return;
        }

        using var span = BackendCallSpan("submit", job);
        LogSubmitting(job.DagId, job.RunId, job.TaskId, job.Attempt, job.Backend, job.JobName);
        JobStatus status;
        try
        {
            status = await backend.SubmitAsync(new JobRequest { Job = job with { OutputUri = rendered.OutputJson }, Task = rendered, LogicalDate = order.LogicalDate, Log = log }, _life.Token);
        }
        catch (BackendCapacityException ex)
        {
            // No room on the backend (an account's instance limit): the attempt stays queued and says why, and the
            // same job name is submitted again after a longer pause than a throttle's.
            span?.SetStatus(System.Diagnostics.ActivityStatusCode.Error, ex.Message);
            var waiting = $"{WaitingForCapacity}{ex.Message}";
            Report(new JobReport { TaskId = job.TaskId, Attempt = job.Attempt, MapIndex = job.MapIndex, Waiting = waiting });
            DeferForCapacity(job, waiting);
            return;
        }
        catch (TransientBackendException ex)
        {
            // Throttled or briefly away: the attempt stays queued and is submitted again later (the backend
            // adopts a job of the same name), without holding this grain's turn meanwhile.
            span?.SetStatus(System.Diagnostics.ActivityStatusCode.Error, ex.Message);
            Defer(job, ex.Message);
            return;
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !_life.IsCancellationRequested)
        {
            // The job may exist although the answer was lost: the run has it stopped (a no-op when it does not).
            span?.SetStatus(System.Diagnostics.ActivityStatusCode.Error, ex.Message);
            LogSubmitFailed(job.DagId, job.RunId, job.TaskId, job.Attempt, ex.Message);
            SubmitFailed($"submit failed: {ex.Message}", retryable: true);
            return;
        }
        _deferrals = 0;
        _capacityRefusals = 0;
        _submitted = true;
        await OnStatusAsync(JobStatusUpdate.From(status));
        if (!status.IsFinal)
        {
            EnsureWatching();
        }
    }

    /// <summary>Submits again later, with growing, jittered pauses; the attempt stays queued meanwhile.</summary>
    private void Defer(JobRef job, string reason)
    {
        var delay = TimeSpan.FromSeconds(Math.Min(60, 2 * Math.Pow(2, Math.Min(_deferrals++, 5))) * (0.8 + (0.4 * Random.Shared.NextDouble())));
        LogSubmitDeferred(job.DagId, job.RunId, job.TaskId, job.Attempt, reason, delay);
        ArmTimer(time.GetUtcNow() + delay);
    }

    /// <summary>Submits again after the capacity backoff (<see cref="CapacityBackoff"/>); the attempt stays queued meanwhile.</summary>
    private void DeferForCapacity(JobRef job, string reason)
    {
        var delay = capacity.Delay(_capacityRefusals++, Random.Shared.NextDouble());
        LogSubmitDeferred(job.DagId, job.RunId, job.TaskId, job.Attempt, reason, delay);
        ArmTimer(time.GetUtcNow() + delay);
    }

    private void SubmitFailed(string reason, bool retryable)
    {
        var job = Job!;
        _last = new JobStatusUpdate(JobState.Failed, null, null, reason, null, null, System.Collections.Immutable.ImmutableDictionary<string, string>.Empty);
        Report(new JobReport { TaskId = job.TaskId, Attempt = job.Attempt, MapIndex = job.MapIndex, SubmitFailure = reason, Retryable = retryable });
    }

    async Task ISupervisorCallbacks.OnJobStatusAsync(JobStatusUpdate status)
    {
        if (!_stopRequested && _last is not { IsFinal: true })
        {
            await OnStatusAsync(status);
        }
    }

    private async Task OnStatusAsync(JobStatusUpdate status)
    {
        if (status == _last)
        {
            return;
        }
        if (status.IsFinal && status.Cost is null)
        {
            // The attempt's cost is worked out once, from the facts its backend reported with the end.
            status = status with { Cost = costs.Of(status.Details, status.StartedAt, status.EndedAt) };
        }
        if (status.IsFinal && !await HandOverAfterEndAsync(status))
        {
            return;
        }
        _last = status;
        var job = Job!;
        Report(new JobReport { TaskId = job.TaskId, Attempt = job.Attempt, MapIndex = job.MapIndex, Status = status });
    }

    /// <summary>
    /// Durable first: a job that still holds something billed after its end (a warm pool) is handed to its
    /// <see cref="IAfterEndGrain"/> before the end is reported, so nothing forgets it once the attempt is over.
    /// False when the hand-over failed: the same end is read again shortly and handed over then.
    /// </summary>
    private async Task<bool> HandOverAfterEndAsync(JobStatusUpdate final)
    {
        var job = Job!;
        if (backends.Find(job.Backend) is not { } backend || !backend.LingersAfterEnd(final.Details))
        {
            return true;
        }
        try
        {
            await GrainFactory.GetGrain<IAfterEndGrain>(job.JobName).FollowAsync(new AfterEndOrder
            {
                Job = job,
                StartedAt = final.StartedAt,
                EndedAt = final.EndedAt,
                Details = final.Details,
            });
            return true;
        }
        catch (Exception ex) when (!_life.IsCancellationRequested)
        {
            LogHandOverFailed(job.DagId, job.RunId, job.TaskId, job.Attempt, ex.Message);
            StopWatching();
            ArmTimer(time.GetUtcNow() + RewatchDelay);
            return false;
        }
    }

    Task ISupervisorCallbacks.OnWatchFailedAsync(string error)
    {
        var job = Job!;
        LogWatchFailed(job.DagId, job.RunId, job.TaskId, job.Attempt, error);
        _watchTask = null;
        ArmTimer(time.GetUtcNow() + RewatchDelay);
        return Task.CompletedTask;
    }

    Task ISupervisorCallbacks.OnStopFinishedAsync(string? error, AttemptCost? cost)
    {
        var job = Job!;
        _stopping = false;
        if (error is not null)
        {
            LogStopFailed(job.DagId, job.RunId, job.TaskId, job.JobName, error);
            ArmTimer(time.GetUtcNow() + RewatchDelay);
            return Task.CompletedTask;
        }
        _stopped = true;
        _stoppedCost = cost;
        Report(new JobReport { TaskId = job.TaskId, Attempt = job.Attempt, MapIndex = job.MapIndex, Stopped = true, Cost = cost });
        return Task.CompletedTask;
    }

    async Task ISupervisorCallbacks.OnDueAsync()
    {
        if (_dueAt is not { } due)
        {
            return;
        }
        if (due > time.GetUtcNow())
        {
            // A system timer may fire a little before the clock reads its instant: wait out the rest, or the wake is lost.
            ArmTimer(due);
            return;
        }
        _dueAt = null;
        if (_stopRequested)
        {
            BeginStop();
        }
        else if (!_submitted)
        {
            await SubmitAsync();
        }
        else
        {
            EnsureWatching();
        }
    }

    private void Report(JobReport report)
    {
        var job = Job!;
        GrainFactory.GetGrain<IRunCallbacks>(RunKeys.Run(job.DagId, job.RunId)).OnJobReportAsync(report).Ignore();
    }

    private void BeginStop()
    {
        if (_stopping || _stopped)
        {
            return;
        }
        _stopping = true;
        var job = Job!;
        var backend = backends.Find(job.Backend);
        var self = this.AsReference<ISupervisorCallbacks>();
        var token = _life.Token;
        var order = _order!;
        _ = Task.Run(async () =>
        {
            string? error = null;
            AttemptCost? cost = null;
            using var span = BackendCallSpan("stop", job);
            try
            {
                if (backend is not null)
                {
                    await backend.StopAsync(job, token);
                    cost = await StoppedCostAsync(backend, order, token);
                }
            }
            catch (Exception ex) when (!token.IsCancellationRequested)
            {
                error = ex.Message;
                span?.SetStatus(System.Diagnostics.ActivityStatusCode.Error, error);
            }
            if (!token.IsCancellationRequested)
            {
                await self.OnStopFinishedAsync(error, cost);
            }
        }, CancellationToken.None);
    }

    /// <summary>
    /// What a job cost once stopped (a timeout, a cancel, a clear): its backend's final status, read with one short
    /// watch, priced like any end. Null when it cannot be read in time; the stop is reported all the same.
    /// </summary>
    private async Task<AttemptCost?> StoppedCostAsync(IJobBackend backend, JobOrder order, CancellationToken token)
    {
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(token);
        bounded.CancelAfter(StoppedCostPatience);
        try
        {
            var log = await OpenLogAsync(order, bounded.Token);
            await foreach (var status in backend.WatchAsync(order.Job, log, bounded.Token))
            {
                if (status.IsFinal)
                {
                    return costs.Of(status.Details, status.StartedAt, status.EndedAt);
                }
            }
        }
        catch (Exception) when (!token.IsCancellationRequested)
        {
            // No final status to be had (the job is gone, the backend is away): the attempt keeps no cost.
        }
        return null;
    }

    private void EnsureWatching()
    {
        // A watcher whose last report could not be delivered has ended: it counts as not watching.
        if (Job is not { } job || _stopRequested || _watchTask is { IsCompleted: false } || _last is { IsFinal: true } || backends.Find(job.Backend) is not { } backend)
        {
            return;
        }
        StopWatching();
        var cts = CancellationTokenSource.CreateLinkedTokenSource(_life.Token);
        _watchCts = cts;
        var token = cts.Token;
        var self = this.AsReference<ISupervisorCallbacks>();
        var order = _order!;
        job = BackendJob();
        _watchTask = Task.Run(async () =>
        {
            // The whole watch is one backend call of the attempt: the backend's status reads and log fetches go under it.
            using var span = BackendCallSpan("watch", job);
            try
            {
                var log = await OpenLogAsync(order, token);
                var ended = false;
                await foreach (var status in backend.WatchAsync(job, log, token))
                {
                    await self.OnJobStatusAsync(JobStatusUpdate.From(status));
                    ended |= status.IsFinal;
                }
                if (!ended && !token.IsCancellationRequested)
                {
                    await self.OnWatchFailedAsync("the backend stopped reporting before the job ended");
                }
            }
            catch (Exception ex) when (!token.IsCancellationRequested)
            {
                try
                {
                    await self.OnWatchFailedAsync(ex.Message);
                }
                catch (Exception)
                {
                    // The grain is unreachable; the run's next order finds this watcher ended and starts another.
                }
            }
            catch (OperationCanceledException)
            {
                // Watching ended on purpose (a stop, or the grain deactivated).
            }
        }, CancellationToken.None);
    }

    private void StopWatching()
    {
        _watchCts?.Cancel();
        _watchCts?.Dispose();
        _watchCts = null;
        _watchTask = null;
    }

    /// <summary>The attempt's log, writing <c>***</c> for the values of the secrets the task uses.</summary>
    private async Task<IAttemptLog> OpenLogAsync(JobOrder order, CancellationToken cancellationToken)
    {
        var job = order.Job;
        // An instance of a mapped task has a log of its own, under its task key (id[index]).
        var key = Batchyard.History.TaskKeys.Of(job.TaskId, job.MapIndex);
        return TaskSecrets.Masking(await logs.OpenAsync(job.DagId, job.RunId, key, job.Attempt, cancellationToken), TaskSecrets.Values(order.Task, secrets));
    }

    /// <summary>A span for one call to the job's backend, under the attempt's span, current until disposed.</summary>
    private static System.Diagnostics.Activity? BackendCallSpan(string call, JobRef job) =>
        BatchyardTracing.Start($"{call} {job.Backend}", job.TraceParent, System.Diagnostics.ActivityKind.Client)
            ?.SetTag("batchyard.dag", job.DagId).SetTag("batchyard.run", job.RunId).SetTag("batchyard.task", job.TaskId)
            .SetTag("batchyard.attempt", job.Attempt).SetTag("batchyard.job", job.JobName);

    /// <summary>One timer for whatever this supervisor waits for next (a deferred submit, a re-watch, a stop retry).</summary>
    private void ArmTimer(DateTimeOffset at)
    {
        _dueAt = at;
        _timer ??= new ClockTimer(time, _life.Token);
        _timer.Arm(at, TimeSpan.FromHours(12), this.AsReference<ISupervisorCallbacks>().OnDueAsync);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "{DagId}/{RunId}/{TaskId} attempt {Attempt}: submitting to {Backend} as {JobName}")]
    private partial void LogSubmitting(string dagId, string runId, string taskId, int attempt, string backend, string jobName);

    [LoggerMessage(Level = LogLevel.Information, Message = "{DagId}/{RunId}/{TaskId} attempt {Attempt}: submit deferred ({Reason}); again in {Delay}")]
    private partial void LogSubmitDeferred(string dagId, string runId, string taskId, int attempt, string reason, TimeSpan delay);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{DagId}/{RunId}/{TaskId} attempt {Attempt}: submit failed: {Error}")]
    private partial void LogSubmitFailed(string dagId, string runId, string taskId, int attempt, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{DagId}/{RunId}/{TaskId} attempt {Attempt}: following the job failed: {Error}")]
    private partial void LogWatchFailed(string dagId, string runId, string taskId, int attempt, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{DagId}/{RunId}/{TaskId} attempt {Attempt}: handing over what outlives the job failed ({Error}); its end is read again shortly")]
    private partial void LogHandOverFailed(string dagId, string runId, string taskId, int attempt, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{DagId}/{RunId}/{TaskId}: stopping job {JobName} failed: {Error}")]
    private partial void LogStopFailed(string dagId, string runId, string taskId, string jobName, string error);
}
