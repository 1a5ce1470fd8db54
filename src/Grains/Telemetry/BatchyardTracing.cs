using System.Diagnostics;

namespace Batchyard.Telemetry;

/// <summary>
/// Batchyard's spans: one trace per run. The run's root span is started when the run is created and its W3C
/// <c>traceparent</c> kept with the run's state, so that every later span (an attempt, on whichever silo and
/// activation) is parented on it; spans are ended by the grain that holds them, or when it deactivates.
/// </summary>
public static class BatchyardTracing
{
    public const string SourceName = "Batchyard";

    public static readonly ActivitySource Source = new(SourceName);

    /// <summary>
    /// Starts a run's root span in a trace of its own (the request that made the run, if any, is a link), without
    /// making it current: it outlives the turn that started it.
    /// </summary>
    public static Activity? StartRun(string dagId, string runId, string runType)
    {
        var caller = Activity.Current;
        Activity.Current = null;
        try
        {
            var links = caller is null ? null : new[] { new ActivityLink(caller.Context) };
            var span = Source.StartActivity(ActivityKind.Internal, parentContext: default, tags: null, links: links, name: $"run {dagId}");
            span?.SetTag("batchyard.dag", dagId).SetTag("batchyard.run", runId).SetTag("batchyard.run_type", runType);
            return span;
        }
        finally
        {
            Activity.Current = caller;
        }
    }

    /// <summary>Starts a span under <paramref name="parent"/> (a W3C traceparent; none: under the current span) without making it current.</summary>
    public static Activity? StartDetached(string name, string? parent, ActivityKind kind = ActivityKind.Internal)
    {
        var caller = Activity.Current;
        try
        {
            return Start(name, parent, kind);
        }
        finally
        {
            Activity.Current = caller;
        }
    }

    /// <summary>Starts a span under <paramref name="parent"/> (a W3C traceparent; none or invalid: under the current span) and makes it current.</summary>
    public static Activity? Start(string name, string? parent, ActivityKind kind = ActivityKind.Internal)
    {
        if (parent is not null && ActivityContext.TryParse(parent, null, out var context))
        {
            Activity.Current = null;
            return Source.StartActivity(name, kind, context);
        }
        return Source.StartActivity(name, kind);
    }

    /// <summary>The span's W3C traceparent (<c>00-trace-span-flags</c>), or null without a span.</summary>
    public static string? TraceParent(Activity? span) =>
        span is { IdFormat: ActivityIdFormat.W3C } ? span.Id : null;

    /// <summary>Ends a span that its grain cannot follow to the end (it deactivates): marked, so that its short length is not misread.</summary>
    public static void EndEarly(Activity? span)
    {
        span?.SetTag("batchyard.span.truncated", true);
        span?.Stop();
    }

    /// <summary>Ends a span with the outcome it stands for; a failure marks the span as an error.</summary>
    public static void End(Activity? span, string outcome, string? reason = null)
    {
        if (span is null)
        {
            return;
        }
        span.SetTag("batchyard.outcome", outcome);
        if (outcome is "failed" or "timed_out")
        {
            span.SetStatus(ActivityStatusCode.Error, reason);
        }
        span.Stop();
    }
}
