using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Text;
using Microsoft.Extensions.Logging;

namespace Batchyard.Aws;

/// <summary>An S3 object's address, from an <c>s3://bucket/key</c> URI.</summary>
public sealed record S3Location(string Bucket, string Key)
{
    /// <summary>Bucket and key, both non-empty; the key is taken as written (no decoding).</summary>
    public static bool TryParse(string? uri, [NotNullWhen(true)] out S3Location? location)
    {
        location = null;
        const string Scheme = "s3://";
        if (uri is null || !uri.StartsWith(Scheme, StringComparison.Ordinal))
        {
            return false;
        }
        var rest = uri[Scheme.Length..];
        var slash = rest.IndexOf('/', StringComparison.Ordinal);
        if (slash <= 0 || slash == rest.Length - 1)
        {
            return false;
        }
        location = new S3Location(rest[..slash], rest[(slash + 1)..]);
        return true;
    }

    /// <summary>The request path of the object, path-style: <c>/bucket/key</c> with every segment percent-encoded once.</summary>
    public string Path => "/" + SigV4Signer.Encode(Bucket) + "/" + string.Join('/', Key.Split('/').Select(SigV4Signer.Encode));

    public override string ToString() => $"s3://{Bucket}/{Key}";
}

/// <summary>
/// The start of an object's body: all of it when <see cref="TooLarge"/> is false; otherwise the object holds
/// more than was asked for and <see cref="Body"/> is not the whole (<see cref="Length"/> is its size when S3 said it).
/// </summary>
public sealed record S3ObjectContent(ReadOnlyMemory<byte> Body, bool TooLarge, long? Length);

/// <summary>
/// The S3 read Batchyard makes: GetObject, path-style against the endpoint, SigV4-signed for <c>s3</c> (with
/// <c>x-amz-content-sha256</c>), retried in the standard mode, S3's XML errors decoded into typed exceptions.
/// </summary>
public sealed partial class S3Client(
    HttpClient http,
    Func<AwsEndpoint> resolveEndpoint,
    IAwsCredentialSource credentials,
    AwsRetryPolicy retry,
    TimeProvider time,
    ILogger logger)
{
    // An error body is a short XML document; anything longer is not worth reading.
    private const int MaxErrorBytes = 16 * 1024;

    // Resolved on first use, so that a silo without AWS settings starts and only the tasks that need S3 fail.
    private readonly Lazy<AwsEndpoint> _endpoint = new(resolveEndpoint);

    /// <summary>Longest wait for one attempt's answer; a slower one counts as a timeout and is retried.</summary>
    public TimeSpan AttemptTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Where each try is counted; none: not counted.</summary>
    public Batchyard.Telemetry.BatchyardMetrics? Metrics { get; init; }

    public AwsEndpoint Endpoint => _endpoint.Value;

    /// <summary>
    /// Reads at most <paramref name="maxBytes"/> + 1 bytes of the object: a larger one comes back
    /// <see cref="S3ObjectContent.TooLarge"/> without being downloaded.
    /// </summary>
    public Task<S3ObjectContent> GetObjectAsync(S3Location location, int maxBytes, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(location);
        ArgumentOutOfRangeException.ThrowIfNegative(maxBytes);
        return GetAsync(location, maxBytes, cancellationToken);
    }

    private async Task<S3ObjectContent> GetAsync(S3Location location, int maxBytes, CancellationToken cancellationToken)
    {
        using var span = AwsTelemetry.StartCall(AwsServiceInfo.S3.SigningName, "GetObject");
        return await retry.RunAsync(AwsServiceInfo.S3.SigningName, "GetObject", token => AwsTelemetry.CountTryAsync(Metrics, "GetObject", () => GetOnceAsync(location, maxBytes, token)), AttemptTimeout, time, logger, cancellationToken).ConfigureAwait(false);
    }

    private async Task<S3ObjectContent> GetOnceAsync(S3Location location, int maxBytes, CancellationToken cancellationToken)
    {
        var creds = await credentials.GetAsync(cancellationToken).ConfigureAwait(false);
        var now = time.GetUtcNow();
        var endpoint = _endpoint.Value;
        var path = endpoint.Url.AbsolutePath.TrimEnd('/') + location.Path;
        // Sent exactly as signed: Uri would otherwise fold dot segments and re-encode a key's characters.
        var uri = new Uri(endpoint.Url.GetLeftPart(UriPartial.Authority) + path, new UriCreationOptions { DangerousDisablePathAndQueryCanonicalization = true });
        var amzDate = SigV4Signer.FormatDate(now);

        var signed = new List<KeyValuePair<string, string>>
        {
            new("Host", uri.Authority),
            new("X-Amz-Date", amzDate),
            new("X-Amz-Content-SHA256", SigV4Signer.EmptyBodySha256),
        };
        if (creds.SessionToken is not null)
        {
            signed.Add(new("X-Amz-Security-Token", creds.SessionToken));
        }
        var request = new SigV4Request("GET", path, "", signed, ReadOnlyMemory<byte>.Empty) { NormalizePath = false };
        var signature = SigV4Signer.Sign(request, creds, endpoint.Region, AwsServiceInfo.S3.SigningName, now);

        using var message = new HttpRequestMessage(HttpMethod.Get, uri);
        message.Headers.TryAddWithoutValidation("X-Amz-Date", amzDate);
        message.Headers.TryAddWithoutValidation("X-Amz-Content-SHA256", SigV4Signer.EmptyBodySha256);
        if (creds.SessionToken is not null)
        {
            message.Headers.TryAddWithoutValidation("X-Amz-Security-Token", creds.SessionToken);
        }
        message.Headers.TryAddWithoutValidation("Authorization", signature.Authorization);
        AwsTelemetry.AddTraceContext(message);

        var started = Stopwatch.GetTimestamp();
        // Headers first: the body is read only as far as the limit, and a larger object is never fetched whole.
        using var response = await http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        LogCall(logger, "GetObject", (int)response.StatusCode, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        var length = response.Content.Headers.ContentLength;
        if (!response.IsSuccessStatusCode)
        {
            var text = Encoding.UTF8.GetString((await ReadAtMostAsync(response, MaxErrorBytes, cancellationToken).ConfigureAwait(false)).Span);
            var requestId = response.Headers.TryGetValues("x-amz-request-id", out var ids) ? ids.FirstOrDefault() : null;
            throw AwsErrorDecoder.DecodeXml(response.StatusCode, requestId, text);
        }
        if (length > maxBytes)
        {
            return new S3ObjectContent(ReadOnlyMemory<byte>.Empty, TooLarge: true, length);
        }
        var body = await ReadAtMostAsync(response, maxBytes + 1, cancellationToken).ConfigureAwait(false);
        return body.Length > maxBytes
            ? new S3ObjectContent(body[..maxBytes], TooLarge: true, length)
            : new S3ObjectContent(body, TooLarge: false, body.Length);
    }

    private static async Task<ReadOnlyMemory<byte>> ReadAtMostAsync(HttpResponseMessage response, int limit, CancellationToken cancellationToken)
    {
        var buffer = new byte[limit];
        var filled = 0;
        var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            while (filled < limit)
            {
                var read = await stream.ReadAsync(buffer.AsMemory(filled), cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    break;
                }
                filled += read;
            }
        }
        return buffer.AsMemory(0, filled);
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "s3 {Operation} answered {Status} in {Milliseconds:F0} ms")]
    private static partial void LogCall(ILogger logger, string operation, int status, double milliseconds);
}
