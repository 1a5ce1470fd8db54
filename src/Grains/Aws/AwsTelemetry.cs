using System.Diagnostics;
using Batchyard.Telemetry;

namespace Batchyard.Aws;

/// <summary>
/// What the AWS wire gives telemetry: a client span per call (its retries inside it), each try counted by
/// outcome, and the W3C trace context on every request. Both senders (JSON 1.1 and S3) use it.
/// </summary>
public static class AwsTelemetry
{
    /// <summary>A span for one call of <paramref name="operation"/>, under the current span (the backend call that makes it).</summary>
    public static Activity? StartCall(string service, string operation)
    {
        var span = BatchyardTracing.Source.StartActivity($"{service} {operation}", ActivityKind.Client);
        span?.SetTag("rpc.system", "aws-api").SetTag("rpc.service", service).SetTag("rpc.method", operation);
        return span;
    }

    /// <summary>
    /// Adds <c>traceparent</c> (and <c>tracestate</c>) of the current span. Added after signing and left out of
    /// the signed headers, as AWS's own <c>X-Amzn-Trace-Id</c> is: a proxy or agent that rewrites trace headers
    /// then cannot break the signature.
    /// </summary>
    public static void AddTraceContext(HttpRequestMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (Activity.Current is not { IdFormat: ActivityIdFormat.W3C } current)
        {
            return;
        }
        message.Headers.TryAddWithoutValidation("traceparent", current.Id);
        if (current.TraceStateString is { Length: > 0 } state)
        {
            message.Headers.TryAddWithoutValidation("tracestate", state);
        }
    }

    /// <summary>Runs one try, counting it by outcome in <c>batchyard_sagemaker_requests_total</c>.</summary>
    public static async Task<T> CountTryAsync<T>(BatchyardMetrics? metrics, string operation, Func<Task<T>> attempt)
    {
        ArgumentNullException.ThrowIfNull(attempt);
        try
        {
            var result = await attempt().ConfigureAwait(false);
            metrics?.SageMakerRequest(operation, "success");
            return result;
        }
        catch (Exception ex)
        {
            metrics?.SageMakerRequest(operation, Outcome(ex));
            Activity.Current?.AddEvent(new ActivityEvent("try failed", tags: new ActivityTagsCollection { ["error.type"] = Outcome(ex) }));
            throw;
        }
    }

    /// <summary>The outcome label of a failed try: a bounded set, throttling apart from other refusals.</summary>
    public static string Outcome(Exception error) => error switch
    {
        AwsThrottlingException => "throttled",
        AwsServiceException { StatusCode: >= System.Net.HttpStatusCode.InternalServerError } => "server_error",
        AwsServiceException => "client_error",
        OperationCanceledException or TimeoutException => "timeout",
        _ => "network_error",
    };
}
