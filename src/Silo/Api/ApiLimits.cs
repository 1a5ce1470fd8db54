namespace Batchyard.Silo.Api;

/// <summary>
/// <c>Batchyard:Limits</c>: the largest request body the API takes (DAG files included, over HTTP and gRPC);
/// a larger one answers 413 problem+json (gRPC <c>RESOURCE_EXHAUSTED</c>).
/// </summary>
public sealed record ApiLimits
{
    public const long DefaultMaxBodyBytes = 1024 * 1024;

    public long MaxBodyBytes { get; init; } = DefaultMaxBodyBytes;
}

/// <summary>
/// <c>Batchyard:RateLimit</c>: how many changes (apply, delete, pause, unpause, trigger, cancel, clear) each key may
/// make per minute, over HTTP and gRPC together; more answer 429 problem+json with <c>Retry-After</c>.
/// </summary>
public sealed record RateLimitOptions
{
    public const string WritesPolicy = "writes";

    /// <summary>Generous: a burst of 2,000 triggers from one script (the durable load test) stays under it. 0 turns the limit off.</summary>
    public int WritesPerMinute { get; init; } = 10_000;
}
