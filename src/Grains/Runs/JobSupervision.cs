using Orleans.Concurrency;
using System.Collections.Immutable;
using Batchyard.Backends;
using Batchyard.Dags;

namespace Batchyard.Runs;

/// <summary>What a run grain asks of a job supervisor: run (or keep following) one attempt's job.</summary>
[GenerateSerializer, Immutable]
public sealed record JobOrder
{
    [Id(0)] public required JobRef Job { get; init; }
    [Id(1)] public required TaskDefinition Task { get; init; }
    [Id(2)] public DateTimeOffset LogicalDate { get; init; }
    [Id(3)] public ImmutableDictionary<string, string> Params { get; init; } = ImmutableDictionary<string, string>.Empty;
    /// <summary>True once the run knows the backend took the job: the supervisor only follows it, never submits.</summary>
    [Id(4)] public bool Acknowledged { get; init; }
    /// <summary>The instance's item (JSON text) when the task is mapped.</summary>
    [Id(5)] public string? Item { get; init; }
    /// <summary>The outputs (JSON text) of the upstream tasks the task's templates refer to, by task id.</summary>
    [Id(6)] public ImmutableDictionary<string, string> Outputs { get; init; } = ImmutableDictionary<string, string>.Empty;
    /// <summary>A <c>dataset</c> run: <c>{{ triggering_datasets }}</c> (a JSON list); null for other runs.</summary>
    [Id(60)] public string? TriggeringDatasets { get; init; }

    /// <summary>The values this attempt's templates render with.</summary>
    public TemplateContext Context() =>
        new(Job.DagId, Job.RunId, Job.TaskId, Job.Attempt, LogicalDate, Params, Item, Job.MapIndex, Outputs, TriggeringDatasets);
}

/// <summary>What a supervisor tells its run: one fact about one attempt's job, sent once, safe to receive twice.</summary>
[GenerateSerializer, Immutable]
public sealed record JobReport
{
    [Id(0)] public required string TaskId { get; init; }
    [Id(1)] public int Attempt { get; init; }
    /// <summary>The instance's index when the task is mapped.</summary>
    [Id(6)] public int? MapIndex { get; init; }
    /// <summary>The job's status as its backend reports it; null for the other kinds of report.</summary>
    [Id(2)] public JobStatusUpdate? Status { get; init; }
    /// <summary>The attempt could not be submitted (template, secret, backend refusal).</summary>
    [Id(3)] public string? SubmitFailure { get; init; }
    /// <summary>Whether <see cref="SubmitFailure"/> may be retried.</summary>
    [Id(4)] public bool Retryable { get; init; }
    /// <summary>True when a job asked to stop has stopped (or was never there).</summary>
    [Id(5)] public bool Stopped { get; init; }
    /// <summary>With <see cref="Stopped"/>: what the stopped job cost, from its backend's final status (null when it could not be read).</summary>
    [Id(7)] public AttemptCost? Cost { get; init; }
    /// <summary>The attempt is still queued, and why (<c>waiting for capacity: …</c>): the backend had no room for the job yet.</summary>
    [Id(8)] public string? Waiting { get; init; }
}

/// <summary>
/// One attempt's job, keyed by its job name: submits it, follows it and stops it, and reports each job fact to
/// its run. It owns no durable state: the run grain owns the attempt and sends the order again after a failover.
/// </summary>
public interface IJobSupervisorGrain : IGrainWithStringKey
{
    /// <summary>Submits the job (unless the order says it is acknowledged) and follows it; repeated orders re-report the latest status.</summary>
    [OneWay]
    Task RunAsync(JobOrder order);

    /// <summary>Stops the job; reports <see cref="JobReport.Stopped"/> when it has.</summary>
    [OneWay]
    Task StopAsync(JobRef job);

    /// <summary>
    /// The run has the job's end (or its stop) in its journal: the supervisor has nothing left to tell and goes,
    /// instead of holding memory for its collection age while thousands of attempts end after it.
    /// </summary>
    [OneWay]
    Task ReleaseAsync();
}

/// <summary>How job supervisors and the run's own timer call a run grain (implemented by <see cref="DagRunGrain"/>).</summary>
public interface IRunCallbacks : IGrainWithStringKey
{
    /// <summary>A fact about one attempt's job.</summary>
    [OneWay]
    Task OnJobReportAsync(JobReport report);

    /// <summary>The run's timer: a retry or a deadline is due.</summary>
    [OneWay]
    Task OnDueAsync();

    /// <summary>The run's deadline timer: the run's or a task's <c>deadline:</c> may have passed.</summary>
    [OneWay]
    Task OnDeadlineAsync();

    /// <summary>
    /// What an ended attempt's job held after its end (a warm pool), settled: merged into the attempt, which is
    /// priced again, durably before this returns true. False when the run has not recorded the attempt's end yet.
    /// </summary>
    Task<bool> OnAfterEndAsync(AfterEndReport report);
}
