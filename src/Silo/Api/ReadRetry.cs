namespace Batchyard.Silo.Api;

/// <summary>
/// Reads change nothing, so they go again when they meet a transient fault (<see cref="TransientFaults"/>): a
/// blip while a silo is being declared dead then never reaches the caller. The tries stay within about two
/// seconds; past that the fault goes up and the transport answers 503 / <c>UNAVAILABLE</c> with a retry delay.
/// One exception: a first try that was rejected late (not timed out) goes again all the same. Orleans holds a call
/// to a silo that stopped answering until that silo is declared dead and only then rejects it; by then the
/// grain can be activated on a survivor, so the next try usually succeeds at once.
/// </summary>
public sealed partial class ReadRetry(TimeProvider time, ILogger<ReadRetry> logger)
{
    private static readonly TimeSpan[] Delays = [TimeSpan.FromMilliseconds(200), TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(1)];

    /// <summary>No try starts later than this after the first: a read that hung until a timeout is not repeated.</summary>
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(2);

    public async Task<T> RunAsync<T>(Func<Task<T>> read, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(read);
        var started = time.GetTimestamp();
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                return await read();
            }
            catch (Exception ex) when (TransientFaults.Cause(ex) is { } cause && MayTryAgain(attempt, cause, time.GetElapsedTime(started)))
            {
                LogRetrying(cause.GetType().Name, cause.Message, (int)Delays[attempt].TotalMilliseconds);
                await Task.Delay(Delays[attempt], time, cancellationToken);
            }
        }
    }

    private static bool MayTryAgain(int attempt, Exception cause, TimeSpan elapsed) =>
        attempt < Delays.Length && (elapsed + Delays[attempt] <= Budget || (attempt == 0 && cause is not TimeoutException));

    [LoggerMessage(Level = LogLevel.Information, Message = "A read met {Cause} ({Reason}); trying it again in {DelayMs} ms")]
    private partial void LogRetrying(string cause, string reason, int delayMs);
}
