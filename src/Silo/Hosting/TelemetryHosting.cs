using Batchyard.Telemetry;
using Microsoft.Extensions.Logging.Console;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Batchyard.Silo.Hosting;

/// <summary>The <c>Batchyard:Telemetry</c> section.</summary>
public sealed record TelemetryOptions
{
    public const string SectionName = "Batchyard:Telemetry";

    /// <summary>Where traces and metrics are exported over OTLP (gRPC on 4317, or HTTP with <see cref="OtlpProtocol"/>); none: not exported.</summary>
    public string? OtlpEndpoint { get; init; }
    /// <summary><c>grpc</c> or <c>http/protobuf</c>.</summary>
    public string OtlpProtocol { get; init; } = "grpc";
    /// <summary>When set, <c>GET /metrics</c> needs <c>Authorization: Bearer</c> with it; otherwise it is open like the health checks.</summary>
    public string? MetricsKey { get; init; }
}

/// <summary>Console log format, <c>Batchyard:Logging:Format</c>: <c>text</c> (the default) or <c>json</c>, one object a line with scopes.</summary>
public sealed record LogFormatOptions
{
    public const string SectionName = "Batchyard:Logging";

    public string Format { get; init; } = "text";
}

/// <summary>
/// OpenTelemetry for the silo: Batchyard's and Orleans' meters served as Prometheus text at <c>/metrics</c>,
/// Batchyard's spans, both exported over OTLP when an endpoint is configured; and the console log format.
/// </summary>
public static class TelemetryHosting
{
    public const string MetricsPath = "/metrics";

    /// <summary>Orleans' own meter (messaging, activations, storage, reminders).</summary>
    public const string OrleansMeter = "Microsoft.Orleans";

    public static void AddBatchyardTelemetry(this WebApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var options = builder.Configuration.GetSection(TelemetryOptions.SectionName).Get<TelemetryOptions>() ?? new TelemetryOptions();
        builder.Services.AddSingleton(options);
        var otlp = options.OtlpEndpoint is { Length: > 0 } endpoint ? new Uri(endpoint) : null;
        var protocol = options.OtlpProtocol.Equals("http/protobuf", StringComparison.OrdinalIgnoreCase) ? OtlpExportProtocol.HttpProtobuf : OtlpExportProtocol.Grpc;

        builder.Services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService("batchyard", serviceInstanceId: Environment.MachineName))
            .WithMetrics(metrics =>
            {
                metrics.AddMeter(BatchyardMetrics.MeterName, OrleansMeter).AddPrometheusExporter();
                if (otlp is not null)
                {
                    metrics.AddOtlpExporter(o => (o.Endpoint, o.Protocol) = (otlp, protocol));
                }
            })
            .WithTracing(tracing =>
            {
                // Spans are made whether or not they are exported: their ids carry the trace into logs and SageMaker requests.
                tracing.AddSource(BatchyardTracing.SourceName);
                if (otlp is not null)
                {
                    tracing.AddOtlpExporter(o => (o.Endpoint, o.Protocol) = (otlp, protocol));
                }
            });

        builder.Logging.Configure(o => o.ActivityTrackingOptions = ActivityTrackingOptions.TraceId | ActivityTrackingOptions.SpanId | ActivityTrackingOptions.ParentId);
        var format = builder.Configuration.GetSection(LogFormatOptions.SectionName).Get<LogFormatOptions>() ?? new LogFormatOptions();
        if (format.Format.Equals("json", StringComparison.OrdinalIgnoreCase))
        {
            builder.Logging.AddJsonConsole(o =>
            {
                o.IncludeScopes = true;
                o.UseUtcTimestamp = true;
                o.TimestampFormat = "yyyy-MM-dd'T'HH:mm:ss.fff'Z' ";
            });
        }
        else if (!format.Format.Equals("text", StringComparison.OrdinalIgnoreCase))
        {
            throw new InvalidOperationException($"{LogFormatOptions.SectionName}:Format must be 'text' or 'json', not '{format.Format}'");
        }
    }

    /// <summary>Serves <c>/metrics</c>: open, or behind <see cref="TelemetryOptions.MetricsKey"/> when one is set.</summary>
    public static void MapBatchyardMetrics(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var key = app.Services.GetRequiredService<TelemetryOptions>().MetricsKey is { Length: > 0 } configured ? new BearerKey(configured) : null;
        app.MapPrometheusScrapingEndpoint(MetricsPath, meterProvider: null, configureBranchedPipeline: branch =>
        {
            if (key is not null)
            {
                branch.Use((context, next) => key.Matches(ApiKeyAuthentication.BearerToken(context.Request))
                    ? next(context)
                    : ApiKeyAuthentication.RefuseAsync(context, "/metrics needs 'Authorization: Bearer <Batchyard:Telemetry:MetricsKey>'"));
            }
        }, optionsName: null);
    }
}
