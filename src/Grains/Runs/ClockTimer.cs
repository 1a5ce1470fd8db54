namespace Batchyard.Runs;

/// <summary>
/// A one-shot timer on the injected clock (so tests drive it with a fake one) that calls back into its grain
/// as a turn of its own; arming it again cancels the previous shot.
/// </summary>
internal sealed class ClockTimer(TimeProvider time, CancellationToken life)
{
    private CancellationTokenSource? _cts;

    /// <summary>Calls <paramref name="callback"/> (a grain call on the timer's owner) at <paramref name="at"/>, at most <paramref name="longest"/> from now.</summary>
    public void Arm(DateTimeOffset at, TimeSpan longest, Func<Task> callback)
    {
        Cancel();
        var delay = at - time.GetUtcNow();
        delay = delay < TimeSpan.Zero ? TimeSpan.Zero : delay > longest ? longest : delay;
        var cts = CancellationTokenSource.CreateLinkedTokenSource(life);
        _cts = cts;
        // The delay starts now, on this thread: started later on the pool, a fake clock advanced meanwhile
        // would leave it waiting a whole delay more.
        var due = Task.Delay(delay, time, cts.Token);
        _ = Task.Run(async () =>
        {
            try
            {
                await due;
                await callback();
            }
            catch (OperationCanceledException)
            {
                // Re-armed or deactivated.
            }
        }, CancellationToken.None);
    }

    public void Cancel()
    {
        _cts?.Cancel();
        _cts?.Dispose();
        _cts = null;
    }
}
