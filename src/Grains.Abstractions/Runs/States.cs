namespace Batchyard.Runs;

/// <summary>A task instance's state within one run. JSON names are snake_case (<c>up_for_retry</c>).</summary>
public enum TaskState
{
    /// <summary>Waiting for its upstream tasks (Airflow's "no status").</summary>
    Pending,
    /// <summary>Ready, waiting for backend capacity or a retry delay to pass.</summary>
    Queued,
    Submitted,
    Running,
    Succeeded,
    Failed,
    UpForRetry,
    TimedOut,
    Cancelled,
    Skipped,
    UpstreamFailed,
}

/// <summary>A DAG run's state.</summary>
public enum RunState
{
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

/// <summary>State of one attempt (one backend job).</summary>
public enum AttemptState
{
    Queued,
    Submitted,
    Running,
    Succeeded,
    Failed,
    TimedOut,
    Cancelled,
}

public static class StateExtensions
{
    /// <summary>True once a task will not change again unless it is cleared.</summary>
    public static bool IsFinal(this TaskState state) => state is TaskState.Succeeded or TaskState.Failed
        or TaskState.TimedOut or TaskState.Cancelled or TaskState.Skipped or TaskState.UpstreamFailed;

    /// <summary>
    /// The one definition of "failed", for trigger rules, the run's outcome and notifications: final without
    /// success or skip (Airflow counts timed-out, upstream-failed and cancelled tasks as failed upstream).
    /// </summary>
    public static bool IsFailure(this TaskState state) => state is TaskState.Failed or TaskState.TimedOut
        or TaskState.UpstreamFailed or TaskState.Cancelled;

    public static bool IsFinal(this RunState state) => state is RunState.Succeeded or RunState.Failed or RunState.Cancelled;

    public static bool IsFinal(this AttemptState state) => state is AttemptState.Succeeded or AttemptState.Failed
        or AttemptState.TimedOut or AttemptState.Cancelled;
}
