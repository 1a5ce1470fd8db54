namespace Batchyard.Aws;

/// <summary>
/// A request-rate budget: <c>ratePerSecond</c> tokens refill continuously up to <c>burst</c>. Callers wait
/// for a token instead of being refused, so a busy silo slows down rather than being throttled by AWS.
/// </summary>
public sealed class TokenBucket(double ratePerSecond, double burst, TimeProvider time)
{
    private readonly Lock _gate = new();
    private readonly double _burst = burst;
    private double _tokens = burst;
    private long _lastRefill = time.GetTimestamp();

    public double RatePerSecond => ratePerSecond;

    public async ValueTask TakeAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            TimeSpan wait;
            lock (_gate)
            {
                Refill();
                if (_tokens >= 1)
                {
                    _tokens -= 1;
                    return;
                }
                wait = TimeSpan.FromSeconds((1 - _tokens) / ratePerSecond);
            }
            await Task.Delay(wait, time, cancellationToken).ConfigureAwait(false);
        }
    }

    private void Refill()
    {
        var now = time.GetTimestamp();
        var elapsed = time.GetElapsedTime(_lastRefill, now);
        _lastRefill = now;
        _tokens = Math.Min(_burst, _tokens + elapsed.TotalSeconds * ratePerSecond);
    }
}
