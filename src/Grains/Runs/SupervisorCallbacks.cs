using Batchyard.Backends;

namespace Batchyard.Runs;

/// <summary>Calls a job supervisor makes to itself from its background work, so that their results land as turns.</summary>
internal interface ISupervisorCallbacks : IGrainWithStringKey
{
    /// <summary>The backend reported a status for the job.</summary>
    Task OnJobStatusAsync(JobStatusUpdate status);

    /// <summary>Following the job failed; it is tried again shortly.</summary>
    Task OnWatchFailedAsync(string error);

    /// <summary>A stop finished (error null, with the stopped job's cost when it could be read) or failed.</summary>
    Task OnStopFinishedAsync(string? error, Batchyard.Runs.AttemptCost? cost);

    /// <summary>Something the supervisor waits for (a deferred submit, a re-watch, a stop retry) is due.</summary>
    Task OnDueAsync();
}

/// <summary>A <see cref="JobStatus"/> in a form that crosses grain calls.</summary>
[GenerateSerializer, Immutable]
public sealed record JobStatusUpdate(
    [property: Id(0)] JobState State,
    [property: Id(1)] string? JobId,
    [property: Id(2)] int? ExitCode,
    [property: Id(3)] string? Reason,
    [property: Id(4)] DateTimeOffset? StartedAt,
    [property: Id(5)] DateTimeOffset? EndedAt,
    [property: Id(6)] System.Collections.Immutable.ImmutableDictionary<string, string> Details,
    [property: Id(7)] string? Output = null,
    [property: Id(8)] Batchyard.Runs.AttemptCost? Cost = null)
{
    public static JobStatusUpdate From(JobStatus status) =>
        new(status.State, status.JobId, status.ExitCode, status.Reason, status.StartedAt, status.EndedAt, status.Details, status.Output);

    public bool IsFinal => State is JobState.Succeeded or JobState.Failed or JobState.Stopped or JobState.TimedOut or JobState.Lost;
}
