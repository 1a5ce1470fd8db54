using Batchyard.Backends;

namespace Batchyard.Runs;

/// <summary>Calls a task grain makes to itself from its background watchers, so that their results land as turns.</summary>
internal interface ITaskRunCallbacks : IGrainWithStringKey
{
    /// <summary>The backend reported a status for an attempt's job.</summary>
    Task OnJobStatusAsync(int attempt, JobStatusUpdate status);

    /// <summary>Following an attempt's job failed; it is tried again shortly.</summary>
    Task OnWatchFailedAsync(int attempt, string error);

    /// <summary>A job that was asked to stop has stopped (or could not be found).</summary>
    Task OnJobStoppedAsync(string jobName, string? error);
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
    [property: Id(6)] System.Collections.Immutable.ImmutableDictionary<string, string> Details)
{
    public static JobStatusUpdate From(JobStatus status) =>
        new(status.State, status.JobId, status.ExitCode, status.Reason, status.StartedAt, status.EndedAt, status.Details);

    public bool IsFinal => State is JobState.Succeeded or JobState.Failed or JobState.Stopped or JobState.TimedOut or JobState.Lost;
}
