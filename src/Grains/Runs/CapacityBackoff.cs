using System.Globalization;
using Microsoft.Extensions.Configuration;

namespace Batchyard.Runs;

/// <summary>
/// How long an attempt refused for capacity (an account's instance limit) waits before it is submitted again:
/// <see cref="RetryDelay"/>, doubling per refusal up to <see cref="MaxRetryDelay"/>, each pause jittered by ±20 %.
/// Read from <c>Batchyard:Capacity:RetryDelay</c> and <c>Batchyard:Capacity:MaxRetryDelay</c> (TimeSpans).
/// </summary>
public sealed record CapacityBackoff
{
    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromSeconds(30);
    public TimeSpan MaxRetryDelay { get; init; } = TimeSpan.FromMinutes(5);

    public const string Section = "Batchyard:Capacity";

    public static CapacityBackoff From(IConfiguration? configuration)
    {
        var backoff = new CapacityBackoff();
        if (configuration is null)
        {
            return backoff;
        }
        if (TimeSpan.TryParse(configuration[$"{Section}:RetryDelay"], CultureInfo.InvariantCulture, out var delay) && delay > TimeSpan.Zero)
        {
            backoff = backoff with { RetryDelay = delay };
        }
        if (TimeSpan.TryParse(configuration[$"{Section}:MaxRetryDelay"], CultureInfo.InvariantCulture, out var max) && max > TimeSpan.Zero)
        {
            backoff = backoff with { MaxRetryDelay = max };
        }
        return backoff.MaxRetryDelay < backoff.RetryDelay ? backoff with { MaxRetryDelay = backoff.RetryDelay } : backoff;
    }

    /// <summary>The pause after refusal number <paramref name="refusals"/> (0 for the first), with <paramref name="jitter"/> in [0, 1).</summary>
    public TimeSpan Delay(int refusals, double jitter)
    {
        var doubled = RetryDelay.TotalMilliseconds * Math.Pow(2, Math.Min(refusals, 30));
        var capped = Math.Min(doubled, MaxRetryDelay.TotalMilliseconds);
        return TimeSpan.FromMilliseconds(capped * (0.8 + (0.4 * jitter)));
    }
}
