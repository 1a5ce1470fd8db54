using System.Collections.Immutable;
using System.Runtime.CompilerServices;
using Batchyard.Aws;
using Batchyard.Dags;
using Batchyard.Logs;
using Microsoft.Extensions.Logging;

namespace Batchyard.Backends.SageMaker;

/// <summary>
/// What the Processing and Training backends share: describe-before-create submission under a
/// deterministic name, status through the silo's <see cref="SageMakerStatusPoller"/>, CloudWatch log tailing,
/// and a succeeded job's output read before its success is reported.
/// </summary>
public abstract partial class SageMakerJobBackend(
    SageMakerClient sageMaker,
    CloudWatchLogsClient logs,
    SageMakerStatusPoller poller,
    SageMakerHealth health,
    SageMakerOptions options,
    TimeProvider time,
    ILogger logger) : IJobBackend
{
    public abstract string Name { get; }

    protected abstract SageMakerJobKind Kind { get; }

    protected SageMakerClient SageMaker => sageMaker;

    public IEnumerable<BackendProblem> Validate(TaskDefinition task) => SageMakerTaskMapping.Validate(task, Kind, options.RoleArn);

    /// <summary>An attempt holds its instances of its type (what <c>Batchyard:Quotas:TYPE</c> counts).</summary>
    public CapacityClaim? ClaimOf(TaskDefinition task)
    {
        ArgumentNullException.ThrowIfNull(task);
        return new(task.Resources.InstanceType ?? SageMakerTaskMapping.DefaultInstanceType, task.Resources.InstanceCount ?? SageMakerTaskMapping.DefaultInstanceCount);
    }

    /// <summary>Sends the Create call for this kind of job; returns its ARN.</summary>
    protected abstract Task<string> CreateAsync(string jobName, JobRequest request, string roleArn, CancellationToken cancellationToken);

    /// <summary>Sends the Stop call for this kind of job.</summary>
    protected abstract Task StopJobAsync(string jobName, CancellationToken cancellationToken);

    /// <summary>
    /// The output of a job that completed, or the reason it fails the attempt; (null, null) when it has none.
    /// Throws <see cref="TransientBackendException"/> when the output cannot be read for now.
    /// </summary>
    protected abstract Task<(string? Output, string? Error)> ReadOutputAsync(JobRef job, SageMakerJobSnapshot snapshot, CancellationToken cancellationToken);

    public async Task<JobStatus> SubmitAsync(JobRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var job = request.Job;
        var name = SageMakerJobNames.For(job);

        // Describe first: after a crash between Create and the grain's next write, the job already exists.
        var existing = await poller.ReadNowAsync(Kind, name, cancellationToken).ConfigureAwait(false);
        if (!existing.Missing)
        {
            LogAdopted(logger, job.DagId, job.RunId, job.TaskId, job.Attempt, name);
            return await StatusAsync(job, existing, cancellationToken).ConfigureAwait(false);
        }

        if (string.IsNullOrWhiteSpace(options.RoleArn))
        {
            return Refused(name, $"{SageMakerOptions.Section}:RoleArn is not configured");
        }

        for (var failures = 0; ; failures++)
        {
            try
            {
                var arn = await CreateAsync(name, request, options.RoleArn, cancellationToken).ConfigureAwait(false);
                LogCreated(logger, job.DagId, job.RunId, job.TaskId, job.Attempt, name);
                return new JobStatus
                {
                    State = JobState.Queued,
                    JobId = arn,
                    Details = System.Collections.Immutable.ImmutableDictionary<string, string>.Empty.Add("jobName", name),
                };
            }
            catch (AwsResourceInUseException)
            {
                // Our own earlier Create won (a retried call whose first answer was lost): adopt that job.
                LogAdopted(logger, job.DagId, job.RunId, job.TaskId, job.Attempt, name);
                return await StatusAsync(job, await poller.ReadNowAsync(Kind, name, cancellationToken).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (AwsRetryPolicy.IsRetryable(e) || e is TimeoutException)
            {
                // Throttling and 5xx never fail a task: the wire's own retries are spent, so wait and go again,
                // a little here and then from the task grain, which must not be held for long.
                LogSubmitRetry(logger, job.DagId, job.RunId, job.TaskId, job.Attempt, e.Message);
                if (failures >= 1)
                {
                    throw new TransientBackendException($"SageMaker is throttling or unavailable: {e.Message}", e);
                }
                await Task.Delay(poller.TransientDelay(failures), time, cancellationToken).ConfigureAwait(false);
            }
            catch (AwsServiceException e) when (SageMakerCapacity.IsCapacityError(e))
            {
                // An account limit is a wait, not a failure: the supervisor submits again later under this name.
                LogNoCapacity(logger, job.DagId, job.RunId, job.TaskId, job.Attempt, e.Message);
                throw new BackendCapacityException(e.Message, e);
            }
            catch (AwsServiceException e)
            {
                return Refused(name, $"{e.ErrorCode}: {e.ServiceMessage}");
            }
        }
    }

    public async IAsyncEnumerable<JobStatus> WatchAsync(JobRef job, IAttemptLog log, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(job);
        ArgumentNullException.ThrowIfNull(log);
        var name = SageMakerJobNames.For(job);
        var tailer = new SageMakerLogTailer(logs, SageMakerLogTailer.LogGroupFor(Kind), name, log, logger);
        JobStatus? last = null;
        await foreach (var snapshot in poller.FollowAsync(Kind, name, cancellationToken).ConfigureAwait(false))
        {
            var status = Status(snapshot);
            // Once per tick while it runs, and once more after the final status so the log is complete.
            await tailer.PumpAsync(cancellationToken).ConfigureAwait(false);
            // A failure to read the output for now ends this watch with the exception: the supervisor watches
            // again later, and the job's success is reported only with its output.
            status = await WithOutputAsync(job, snapshot, status, cancellationToken).ConfigureAwait(false);
            if (last is null || Changed(last, status))
            {
                last = status;
                yield return status;
            }
            if (status.IsFinal)
            {
                yield break;
            }
        }
    }

    public async Task StopAsync(JobRef job, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(job);
        var name = SageMakerJobNames.For(job);
        poller.MarkStopRequested(Kind, name);
        for (var failures = 0; ; failures++)
        {
            try
            {
                await StopJobAsync(name, cancellationToken).ConfigureAwait(false);
                break;
            }
            catch (AwsValidationException)
            {
                // Already ended, or never made: either way there is nothing left to stop.
                break;
            }
            catch (Exception e) when (AwsRetryPolicy.IsRetryable(e) || e is TimeoutException)
            {
                await Task.Delay(poller.TransientDelay(failures), time, cancellationToken).ConfigureAwait(false);
            }
        }
        LogStopping(logger, job.DagId, job.RunId, job.TaskId, job.Attempt, name);
        await foreach (var snapshot in poller.FollowAsync(Kind, name, cancellationToken).ConfigureAwait(false))
        {
            if (snapshot.IsFinal)
            {
                return;
            }
        }
    }

    /// <summary>A training job's warm pool outlives it: <c>Available</c> until it is reused or terminated (at most an hour).</summary>
    public bool LingersAfterEnd(ImmutableDictionary<string, string> finalDetails) =>
        Kind == SageMakerJobKind.Training
        && finalDetails.TryGetValue(SageMakerTaskMapping.WarmPoolStatusKey, out var pool)
        && !SageMakerTaskMapping.WarmPoolSettled(pool);

    /// <summary>The warm pool now, in the attempt's words; settled once it is terminated or reused (or the job is gone).</summary>
    public async Task<AfterEndReading> ReadAfterEndAsync(JobRef job, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(job);
        if (Kind != SageMakerJobKind.Training)
        {
            return new AfterEndReading(ImmutableDictionary<string, string>.Empty, Settled: true, Recheck: TimeSpan.Zero);
        }
        var snapshot = await poller.ReadNowAsync(Kind, SageMakerJobNames.For(job), cancellationToken).ConfigureAwait(false);
        if (snapshot.Missing || snapshot.WarmPool is null)
        {
            // No pool to follow any more (the job aged out of Describe): what the attempt has is all there is.
            return new AfterEndReading(ImmutableDictionary<string, string>.Empty.Add(SageMakerTaskMapping.WarmPoolStatusKey, SageMakerTaskMapping.WarmPoolGone), Settled: true, Recheck: TimeSpan.Zero);
        }
        var details = Status(snapshot).Details.Where(d => SageMakerTaskMapping.IsWarmPoolFact(d.Key)).ToImmutableDictionary();
        return new AfterEndReading(details, SageMakerTaskMapping.WarmPoolSettled(snapshot.WarmPool.Status), options.PollInterval);
    }

    /// <summary>Whether SageMaker answers this silo and tasks can run (one signed call shared by both backends, cached for a minute).</summary>
    public async Task<BackendHealth> DescribeHealthAsync(CancellationToken cancellationToken) =>
        SageMakerHealth.Describe(Name, Kind, options.RoleArn, await health.CheckAsync(cancellationToken).ConfigureAwait(false));

    private JobStatus Status(SageMakerJobSnapshot snapshot)
    {
        var status = SageMakerTaskMapping.ToStatus(snapshot, poller.WasStopRequested(Kind, snapshot.Name));
        return snapshot.Missing ? status : status with { Details = status.Details.SetItems(snapshot.BillingFacts(Region())) };
    }

    /// <summary>The region the jobs run in (for their prices), or null when none is set.</summary>
    private string? Region()
    {
        try
        {
            return AwsEnvironment.ResolveRegion(Environment.GetEnvironmentVariable, options.Region);
        }
        catch (InvalidOperationException)
        {
            return null;
        }
    }

    private Task<JobStatus> StatusAsync(JobRef job, SageMakerJobSnapshot snapshot, CancellationToken cancellationToken) =>
        WithOutputAsync(job, snapshot, Status(snapshot), cancellationToken);

    /// <summary>A success carries the job's output; an output that is missing, too large or not JSON turns it into a failure.</summary>
    private async Task<JobStatus> WithOutputAsync(JobRef job, SageMakerJobSnapshot snapshot, JobStatus status, CancellationToken cancellationToken)
    {
        if (status.State != JobState.Succeeded)
        {
            return status;
        }
        var (output, error) = await ReadOutputAsync(job, snapshot, cancellationToken).ConfigureAwait(false);
        if (error is null)
        {
            return status with { Output = output };
        }
        LogOutputRefused(logger, job.DagId, job.RunId, job.TaskId, job.Attempt, snapshot.Name, error);
        return status with { State = JobState.Failed, Reason = error };
    }

    private static JobStatus Refused(string name, string reason) => new()
    {
        State = JobState.Failed,
        JobId = name,
        Reason = reason,
    };

    private static bool Changed(JobStatus before, JobStatus after) =>
        before.State != after.State
        || before.Reason != after.Reason
        || !JobDetails.Same(before.Details, after.Details);

    [LoggerMessage(Level = LogLevel.Information, Message = "{DagId}/{RunId}/{TaskId}#{Attempt}: created SageMaker job {JobName}")]
    private static partial void LogCreated(ILogger logger, string dagId, string runId, string taskId, int attempt, string jobName);

    [LoggerMessage(Level = LogLevel.Information, Message = "{DagId}/{RunId}/{TaskId}#{Attempt}: SageMaker job {JobName} already exists, adopting it")]
    private static partial void LogAdopted(ILogger logger, string dagId, string runId, string taskId, int attempt, string jobName);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{DagId}/{RunId}/{TaskId}#{Attempt}: submitting to SageMaker failed for now, trying again: {Error}")]
    private static partial void LogSubmitRetry(ILogger logger, string dagId, string runId, string taskId, int attempt, string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "{DagId}/{RunId}/{TaskId}#{Attempt}: SageMaker has no capacity for the job now, waiting: {Error}")]
    private static partial void LogNoCapacity(ILogger logger, string dagId, string runId, string taskId, int attempt, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{DagId}/{RunId}/{TaskId}#{Attempt}: SageMaker job {JobName} completed, but its output fails the attempt: {Reason}")]
    private static partial void LogOutputRefused(ILogger logger, string dagId, string runId, string taskId, int attempt, string jobName, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "{DagId}/{RunId}/{TaskId}#{Attempt}: stopping SageMaker job {JobName}")]
    private static partial void LogStopping(ILogger logger, string dagId, string runId, string taskId, int attempt, string jobName);
}

/// <summary>The <c>sagemaker</c> backend: one SageMaker Processing job per attempt; its output is the S3 object named by <c>output_json</c>.</summary>
public sealed class SageMakerProcessingBackend(
    SageMakerClient sageMaker, CloudWatchLogsClient logs, S3Client s3, SageMakerStatusPoller poller, SageMakerHealth health, SageMakerOptions options, TimeProvider time, ILogger<SageMakerProcessingBackend> logger)
    : SageMakerJobBackend(sageMaker, logs, poller, health, options, time, logger)
{
    public const string BackendName = "sagemaker";

    public override string Name => BackendName;

    protected override SageMakerJobKind Kind => SageMakerJobKind.Processing;

    protected override async Task<string> CreateAsync(string jobName, JobRequest request, string roleArn, CancellationToken cancellationToken) =>
        (await SageMaker.CreateProcessingJobAsync(SageMakerTaskMapping.ProcessingRequest(jobName, request, roleArn), cancellationToken).ConfigureAwait(false)).ProcessingJobArn;

    protected override Task StopJobAsync(string jobName, CancellationToken cancellationToken) =>
        SageMaker.StopProcessingJobAsync(jobName, cancellationToken);

    protected override Task<(string? Output, string? Error)> ReadOutputAsync(JobRef job, SageMakerJobSnapshot snapshot, CancellationToken cancellationToken) =>
        job.OutputUri is { } uri
            ? SageMakerOutputs.ReadObjectAsync(s3, uri, cancellationToken)
            : Task.FromResult<(string?, string?)>((null, null));
}

/// <summary>The <c>sagemaker-training</c> backend: one SageMaker Training job per attempt; its output is the job's final metrics.</summary>
public sealed class SageMakerTrainingBackend(
    SageMakerClient sageMaker, CloudWatchLogsClient logs, SageMakerStatusPoller poller, SageMakerHealth health, SageMakerOptions options, TimeProvider time, ILogger<SageMakerTrainingBackend> logger)
    : SageMakerJobBackend(sageMaker, logs, poller, health, options, time, logger)
{
    public const string BackendName = "sagemaker-training";

    public override string Name => BackendName;

    protected override SageMakerJobKind Kind => SageMakerJobKind.Training;

    protected override async Task<string> CreateAsync(string jobName, JobRequest request, string roleArn, CancellationToken cancellationToken) =>
        (await SageMaker.CreateTrainingJobAsync(SageMakerTaskMapping.TrainingRequest(jobName, request, roleArn), cancellationToken).ConfigureAwait(false)).TrainingJobArn;

    protected override Task StopJobAsync(string jobName, CancellationToken cancellationToken) =>
        SageMaker.StopTrainingJobAsync(jobName, cancellationToken);

    protected override Task<(string? Output, string? Error)> ReadOutputAsync(JobRef job, SageMakerJobSnapshot snapshot, CancellationToken cancellationToken) =>
        Task.FromResult(SageMakerOutputs.FromMetrics(snapshot));
}
