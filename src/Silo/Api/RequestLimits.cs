using System.Threading.RateLimiting;
using Batchyard.Access;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.RateLimiting;

namespace Batchyard.Silo.Api;

/// <summary>The API's request size limit (413) and the per-key rate limit on changes (429), both problem+json.</summary>
public static class RequestLimits
{
    /// <summary>
    /// The <see cref="RateLimitOptions.WritesPolicy"/> policy: a fixed window of a minute per key name (the
    /// authentication runs first, so a key cannot dodge it by sending another caller's name), no queue.
    /// </summary>
    public static IServiceCollection AddWriteRateLimit(this IServiceCollection services, RateLimitOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return services.AddRateLimiter(limiter =>
        {
            limiter.AddPolicy(RateLimitOptions.WritesPolicy, context => options.WritesPerMinute <= 0
                ? RateLimitPartition.GetNoLimiter("off")
                : RateLimitPartition.GetFixedWindowLimiter(context.Features.Get<Caller>()?.Name ?? Caller.Anonymous.Name, _ => new FixedWindowRateLimiterOptions
                {
                    PermitLimit = options.WritesPerMinute,
                    Window = TimeSpan.FromMinutes(1),
                    QueueLimit = 0,
                }));
            limiter.OnRejected = async (rejected, _) =>
            {
                var retryAfter = rejected.Lease.TryGetMetadata(MetadataName.RetryAfter, out var after) ? after : TimeSpan.FromMinutes(1);
                var context = rejected.HttpContext;
                var detail = $"this key may make {options.WritesPerMinute} changes a minute (Batchyard:RateLimit:WritesPerMinute); try again in {WithRetryAfter.Seconds(retryAfter)} s";
                if (IsGrpc(context.Request))
                {
                    context.Response.Headers["retry-after"] = WithRetryAfter.Seconds(retryAfter);
                    TrailersOnly(context, global::Grpc.Core.StatusCode.ResourceExhausted, detail);
                    return;
                }
                await new WithRetryAfter(TypedResults.Problem(title: "Too many requests", detail: detail, statusCode: StatusCodes.Status429TooManyRequests), retryAfter)
                    .ExecuteAsync(context);
            };
        });
    }

    /// <summary>Bodies of API requests larger than <see cref="ApiLimits.MaxBodyBytes"/> answer 413: at once when the length is declared, else when the reading passes it.</summary>
    public static IApplicationBuilder UseApiBodyLimit(this IApplicationBuilder app)
    {
        var limit = app.ApplicationServices.GetRequiredService<ApiLimits>().MaxBodyBytes;
        return app.Use(async (context, next) =>
        {
            if (context.Request.Path.StartsWithSegments("/api") && !IsGrpc(context.Request))
            {
                if (context.Request.ContentLength > limit)
                {
                    await TypedResults.Problem(title: "Request too large", detail: $"the body may have at most {limit} bytes (Batchyard:Limits:MaxBodyBytes)", statusCode: StatusCodes.Status413PayloadTooLarge)
                        .ExecuteAsync(context);
                    return;
                }
                if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size)
                {
                    size.MaxRequestBodySize = limit;
                }
            }
            await next(context);
        });
    }

    /// <summary>A gRPC call ended before its service: a trailers-only answer (HTTP 200 with the status in the headers), as gRPC clients expect.</summary>
    internal static void TrailersOnly(HttpContext context, global::Grpc.Core.StatusCode status, string message)
    {
        context.Response.StatusCode = StatusCodes.Status200OK;
        context.Response.ContentType = "application/grpc";
        context.Response.Headers["grpc-status"] = ((int)status).ToString(System.Globalization.CultureInfo.InvariantCulture);
        context.Response.Headers["grpc-message"] = Uri.EscapeDataString(message);
    }

    internal static bool IsGrpc(HttpRequest request) =>
        request.ContentType?.StartsWith("application/grpc", StringComparison.OrdinalIgnoreCase) == true;
}
