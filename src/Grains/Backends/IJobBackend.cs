using System.Collections.Immutable;
using Batchyard.Dags;
using Batchyard.Logs;

namespace Batchyard.Backends;

/// <summary>
/// Runs one task attempt as one job. Implementations are registered in DI as <see cref="IJobBackend"/>
/// and chosen by <see cref="Name"/>; no grain knows which backends exist.
/// </summary>
public interface IJobBackend
{
    /// <summary>The name DAG files use, e.g. <c>local</c>.</summary>
    string Name { get; }

    /// <summary>What this backend would refuse in a task, checked when a DAG file is loaded.</summary>
    IEnumerable<BackendProblem> Validate(TaskDefinition task);

    /// <summary>
    /// Submits the job. Idempotent on <see cref="JobRequest.JobName"/>: a second call for the same name
    /// adopts the job that exists instead of making another. Returns its first status (may already be final).
    /// </summary>
    Task<JobStatus> SubmitAsync(JobRequest request, CancellationToken cancellationToken);

    /// <summary>
    /// Follows the job until it ends: yields every status change, the last one final. Writes the job's
    /// output to <paramref name="log"/> while it runs. Called again after a silo restart to re-attach.
    /// </summary>
    IAsyncEnumerable<JobStatus> WatchAsync(JobRef job, IAttemptLog log, CancellationToken cancellationToken);

    /// <summary>Asks the job to stop and waits until it has (or is gone).</summary>
    Task StopAsync(JobRef job, CancellationToken cancellationToken);

    /// <summary>
    /// How this backend is doing on this silo, in its own words. It does not throw: a failed check is described.
    /// Health probes call it, so a backend that must ask a remote service bounds and caches that check itself.
    /// </summary>
    Task<BackendHealth> DescribeHealthAsync(CancellationToken cancellationToken);

    /// <summary>
    /// What one attempt of <paramref name="task"/> holds while it runs of a resource the cluster may cap
    /// (<c>Batchyard:Quotas:RESOURCE</c>; SageMaker: instances of a type), or null when it holds none.
    /// </summary>
    CapacityClaim? ClaimOf(TaskDefinition task) => null;

    /// <summary>
    /// Whether an ended job whose final status has these details still holds something billed (a SageMaker training
    /// job's warm pool): then its attempt is followed after its end with <see cref="ReadAfterEndAsync"/> until that settles.
    /// </summary>
    bool LingersAfterEnd(ImmutableDictionary<string, string> finalDetails) => false;

    /// <summary>
    /// After its job ended, what still bills for an attempt, read now: facts to add to the attempt's details (and
    /// to price it by again), and whether they are final. Throws on a transient failure (the caller reads again).
    /// </summary>
    Task<AfterEndReading> ReadAfterEndAsync(JobRef job, CancellationToken cancellationToken) =>
        Task.FromResult(new AfterEndReading(ImmutableDictionary<string, string>.Empty, Settled: true, Recheck: TimeSpan.Zero));
}

/// <summary>
/// What an ended job still holds, read once (<see cref="IJobBackend.ReadAfterEndAsync"/>): the facts to merge into
/// its attempt's details, whether they are final, and when to read again when they are not.
/// </summary>
public sealed record AfterEndReading(ImmutableDictionary<string, string> Details, bool Settled, TimeSpan Recheck);

/// <summary>Units of one capped resource an attempt holds while it runs, e.g. 2 of <c>ml.g5.xlarge</c>.</summary>
public sealed record CapacityClaim(string Resource, int Units);

/// <summary>
/// Thrown by <see cref="IJobBackend.SubmitAsync"/> when the backend cannot take the job right now (throttled,
/// briefly unavailable): the attempt stays queued and is submitted again later. It never fails the task.
/// </summary>
public sealed class TransientBackendException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// Thrown by <see cref="IJobBackend.SubmitAsync"/> when the backend has no capacity for the job now (an account's
/// instance limit was reached): the attempt stays queued, shows "waiting for capacity: <see cref="Exception.Message"/>",
/// and is submitted again under the same job name with the capacity backoff. It never fails the task.
/// </summary>
public sealed class BackendCapacityException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>A backend's objection to a task field; <see cref="Path"/> is relative to the task, e.g. <c>resources.instance_count</c>.</summary>
public sealed record BackendProblem(string Path, string Message);

/// <summary>One attempt to run, with templates already rendered.</summary>
public sealed record JobRequest
{
    public required JobRef Job { get; init; }
    /// <summary>The task with <c>command</c>, <c>args</c> and <c>env</c> rendered for this attempt.</summary>
    public required TaskDefinition Task { get; init; }
    public DateTimeOffset LogicalDate { get; init; }
    /// <summary>Where the job's output goes.</summary>
    public required IAttemptLog Log { get; init; }
}

/// <summary>Identifies one attempt's job; persisted by the task grain before the job is submitted.</summary>
[GenerateSerializer, Immutable]
public sealed record JobRef
{
    [Id(0)] public required string Backend { get; init; }
    /// <summary>Deterministic per (dag, run, task, attempt); the backend's idempotency key.</summary>
    [Id(1)] public required string JobName { get; init; }
    [Id(2)] public required string DagId { get; init; }
    [Id(3)] public required string RunId { get; init; }
    [Id(4)] public required string TaskId { get; init; }
    [Id(5)] public int Attempt { get; init; }
    /// <summary>The instance's index when the task is mapped; null otherwise.</summary>
    [Id(6)] public int? MapIndex { get; init; }
    /// <summary>
    /// Where the job's output is read from after it succeeds (the task's rendered <c>output_json</c>, an S3
    /// URI), set by the supervisor when it renders the task; null when the task declares none.
    /// </summary>
    [Id(7)] public string? OutputUri { get; init; }
    /// <summary>The attempt's span as a W3C traceparent, so that the job's backend calls join the run's trace; null when nothing traces.</summary>
    [Id(8)] public string? TraceParent { get; init; }
}

public enum JobState
{
    /// <summary>Accepted, waiting for capacity (local memory budget, SageMaker provisioning).</summary>
    Queued,
    Running,
    Succeeded,
    Failed,
    /// <summary>Stopped on request.</summary>
    Stopped,
    /// <summary>The backend ended it for running too long (SageMaker MaxRuntimeInSeconds).</summary>
    TimedOut,
    /// <summary>The backend has no such job (e.g. a local job whose silo died).</summary>
    Lost,
}

/// <summary>A job's status as its backend reports it.</summary>
public sealed record JobStatus
{
    public required JobState State { get; init; }
    /// <summary>The backend's id for the job (ARN, job name, pid).</summary>
    public string? JobId { get; init; }
    public int? ExitCode { get; init; }
    /// <summary>Why it failed, e.g. <c>OutOfMemory</c>, a SageMaker FailureReason.</summary>
    public string? Reason { get; init; }
    public DateTimeOffset? StartedAt { get; init; }
    public DateTimeOffset? EndedAt { get; init; }
    public ImmutableDictionary<string, string> Details { get; init; } = ImmutableDictionary<string, string>.Empty;
    /// <summary>
    /// The job's output on a <see cref="JobState.Succeeded"/> status: one JSON object, checked with
    /// <see cref="TaskOutputs.Check"/> (a backend whose output is missing or invalid reports Failed with the reason instead).
    /// </summary>
    public string? Output { get; init; }

    public bool IsFinal => State is JobState.Succeeded or JobState.Failed or JobState.Stopped or JobState.TimedOut or JobState.Lost;
}
