using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text.Json;
using Batchyard.Telemetry;
using Microsoft.Extensions.Logging;

namespace Batchyard.Aws;

/// <summary>
/// The one JSON 1.1 sender: <c>POST /</c> with <c>X-Amz-Target</c>, SigV4-signed, retried in the standard
/// mode, errors decoded into typed exceptions. Typed clients (<see cref="SageMakerClient"/>,
/// <see cref="CloudWatchLogsClient"/>) are thin layers over it.
/// </summary>
public sealed partial class AwsJsonClient(
    HttpClient http,
    AwsServiceInfo service,
    Func<AwsEndpoint> resolveEndpoint,
    IAwsCredentialSource credentials,
    AwsRetryPolicy retry,
    JsonSerializerOptions json,
    TimeProvider time,
    ILogger logger)
{
    public AwsJsonClient(HttpClient http, AwsServiceInfo service, AwsEndpoint endpoint, IAwsCredentialSource credentials, AwsRetryPolicy retry, JsonSerializerOptions json, TimeProvider time, ILogger logger)
        : this(http, service, () => endpoint, credentials, retry, json, time, logger)
    {
    }

    // Resolved on first use, so that a silo without AWS settings starts and only SageMaker tasks fail.
    private readonly Lazy<AwsEndpoint> _endpoint = new(resolveEndpoint);

    public const string ContentType = "application/x-amz-json-1.1";

    /// <summary>Longest wait for one attempt's answer; a slower one counts as a timeout and is retried.</summary>
    public TimeSpan AttemptTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Where each try is counted; none: not counted.</summary>
    public BatchyardMetrics? Metrics { get; init; }

    public AwsEndpoint Endpoint => _endpoint.Value;
    public AwsRetryPolicy Retry => retry;

    public async Task<TResponse> SendAsync<TRequest, TResponse>(string operation, TRequest request, CancellationToken cancellationToken)
    {
        var body = JsonSerializer.SerializeToUtf8Bytes(request, json);
        using var span = AwsTelemetry.StartCall(service.SigningName, operation);
        var text = await retry.RunAsync(service.SigningName, operation, token => AwsTelemetry.CountTryAsync(Metrics, operation, () => SendOnceAsync(operation, body, token)), AttemptTimeout, time, logger, cancellationToken).ConfigureAwait(false);
        return JsonSerializer.Deserialize<TResponse>(string.IsNullOrWhiteSpace(text) ? "{}" : text, json)
            ?? throw new JsonException($"{operation}: empty answer");
    }

    private async Task<string> SendOnceAsync(string operation, byte[] body, CancellationToken cancellationToken)
    {
        var creds = await credentials.GetAsync(cancellationToken).ConfigureAwait(false);
        var now = time.GetUtcNow();
        var endpoint = _endpoint.Value;
        var uri = new Uri(endpoint.Url, "/");
        var target = $"{service.TargetPrefix}.{operation}";
        var amzDate = SigV4Signer.FormatDate(now);

        var signed = new List<KeyValuePair<string, string>>
        {
            new("Host", uri.Authority),
            new("X-Amz-Date", amzDate),
            new("X-Amz-Target", target),
            new("Content-Type", ContentType),
        };
        if (creds.SessionToken is not null)
        {
            signed.Add(new("X-Amz-Security-Token", creds.SessionToken));
        }
        var signature = SigV4Signer.Sign(new SigV4Request("POST", "/", "", signed, body), creds, endpoint.Region, service.SigningName, now);

        using var message = new HttpRequestMessage(HttpMethod.Post, uri);
        message.Headers.TryAddWithoutValidation("X-Amz-Date", amzDate);
        message.Headers.TryAddWithoutValidation("X-Amz-Target", target);
        if (creds.SessionToken is not null)
        {
            message.Headers.TryAddWithoutValidation("X-Amz-Security-Token", creds.SessionToken);
        }
        message.Headers.TryAddWithoutValidation("Authorization", signature.Authorization);
        AwsTelemetry.AddTraceContext(message);
        message.Content = new ByteArrayContent(body);
        // Exactly this media type with no charset: JSON 1.1 services refuse anything else.
        message.Content.Headers.ContentType = new MediaTypeHeaderValue(ContentType);

        var started = Stopwatch.GetTimestamp();
        using var response = await http.SendAsync(message, HttpCompletionOption.ResponseContentRead, cancellationToken).ConfigureAwait(false);
        var text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        LogCall(logger, service.SigningName, operation, (int)response.StatusCode, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        if (response.IsSuccessStatusCode)
        {
            return text;
        }
        var errorType = response.Headers.TryGetValues("x-amzn-ErrorType", out var types) ? types.FirstOrDefault() : null;
        var requestId = response.Headers.TryGetValues("x-amzn-RequestId", out var ids) ? ids.FirstOrDefault() : null;
        throw AwsErrorDecoder.Decode(response.StatusCode, errorType, requestId, text);
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "{Service} {Operation} answered {Status} in {Milliseconds:F0} ms")]
    private static partial void LogCall(ILogger logger, string service, string operation, int status, double milliseconds);
}
