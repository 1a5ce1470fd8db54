using Microsoft.AspNetCore.Diagnostics;

namespace Batchyard.Silo.Api;

/// <summary>
/// Any HTTP call that fails on a transient fault (<see cref="TransientFaults"/>: a silo being declared dead, the
/// database refusing for a moment) answers 503 problem+json with <c>Retry-After</c> instead of 500. It is logged
/// as one warning line: the failover itself is logged by Orleans, a stack trace per refused call adds nothing.
/// </summary>
internal sealed partial class TransientFaultHandler(ILogger<TransientFaultHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        if (TransientFaults.Cause(exception) is not { } cause || httpContext.Response.HasStarted)
        {
            return false;
        }
        LogUnavailable(httpContext.Request.Method, httpContext.Request.Path, cause.GetType().Name, cause.Message);
        await Problems.Unavailable($"the cluster cannot answer this call right now ({cause.GetType().Name}); try again shortly", TransientFaults.RetryAfter)
            .ExecuteAsync(httpContext);
        return true;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Method} {Path} answered 503: {Cause}: {Reason}")]
    private partial void LogUnavailable(string method, string path, string cause, string reason);
}
