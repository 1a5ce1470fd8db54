namespace Batchyard.Runs;

/// <summary>
/// How often the durable reminders of active runs and schedules fire (<c>Batchyard:WakePeriod</c>). A tick
/// re-checks what a lost message or a dead silo may have left waiting, so the period bounds how long a run
/// can stall after a failover; shorter means more reminder writes to storage.
/// </summary>
public sealed record WakeOptions
{
    public TimeSpan WakePeriod { get; init; } = TimeSpan.FromMinutes(1);
}
