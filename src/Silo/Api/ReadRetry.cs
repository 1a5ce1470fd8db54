namespace Batchyard.Silo.Api;

/// <summary>
/// Reads change nothing, so they go again when they meet a transient fault (<see cref="TransientFaults"/>): a
/// blip while a silo is being declared dead then never reaches the caller. The tries stay within about two
/// seconds; past that the fault goes up and the transport answers 503 / <c>UNAVAILABLE</c> with a retry delay.
/// </summary>
public static class ReadRetry
{
    private static readonly TimeSpan[] Delays = [TimeSpan.FromMilliseconds(200), TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(1)];

    /// <summary>No try starts later than this after the first: a read that hung until a timeout is not repeated.</summary>
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(2);

    public static async Task<T> RunAsync<T>(Func<Task<T>> read, TimeProvider time, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(read);
        ArgumentNullException.ThrowIfNull(time);
        var started = time.GetTimestamp();
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                return await read();
            }
            catch (Exception ex) when (attempt < Delays.Length
                && time.GetElapsedTime(started) + Delays[attempt] <= Budget
                && TransientFaults.IsTransient(ex))
            {
                await Task.Delay(Delays[attempt], time, cancellationToken);
            }
        }
    }
}
