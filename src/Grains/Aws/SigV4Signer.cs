using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Batchyard.Aws;

/// <summary>A request as SigV4 sees it: the path and query as written on the request line (not yet encoded for signing).</summary>
public sealed record SigV4Request(string Method, string Path, string Query, IReadOnlyList<KeyValuePair<string, string>> Headers, ReadOnlyMemory<byte> Body)
{
    /// <summary>
    /// Whether dot and empty path segments are removed before signing. S3 signs the path exactly as sent
    /// (an object key may hold <c>//</c> or <c>.</c>), so its requests set this to false.
    /// </summary>
    public bool NormalizePath { get; init; } = true;

    /// <summary>
    /// What stands for the body in the canonical request; null means the SHA-256 of <see cref="Body"/>. S3 signs
    /// the value of its <c>x-amz-content-sha256</c> header, which may be <c>UNSIGNED-PAYLOAD</c>.
    /// </summary>
    public string? PayloadHash { get; init; }
}

/// <summary>The pieces of one signature, kept apart so that tests can compare each with the SigV4 test suite.</summary>
public sealed record SigV4Signature(string CanonicalRequest, string StringToSign, string Signature, string SignedHeaders, string Authorization);

/// <summary>
/// AWS Signature Version 4 (header form). Our own canonical-request code, checked against the AWS test suite;
/// the emulator uses the same code to verify what clients send.
/// </summary>
public static class SigV4Signer
{
    public const string Algorithm = "AWS4-HMAC-SHA256";
    public const string EmptyBodySha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    /// <summary>Signs <paramref name="request"/>, whose headers must already hold <c>Host</c> and <c>X-Amz-Date</c>.</summary>
    /// <remarks>With temporary credentials the session token is signed as <c>X-Amz-Security-Token</c>; the caller sends that header too.</remarks>
    public static SigV4Signature Sign(SigV4Request request, AwsCredentials credentials, string region, string service, DateTimeOffset signedAt)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(credentials);
        if (credentials.SessionToken is { } token
            && !request.Headers.Any(h => h.Key.Equals("X-Amz-Security-Token", StringComparison.OrdinalIgnoreCase)))
        {
            request = request with { Headers = [.. request.Headers, new("X-Amz-Security-Token", token)] };
        }
        var (canonical, signedHeaders) = CanonicalRequest(request, null);
        return Finish(canonical, signedHeaders, credentials, region, service, signedAt);
    }

    /// <summary>Recomputes a signature over exactly the headers the client said it signed (the verifier's side).</summary>
    public static SigV4Signature SignWithHeaders(SigV4Request request, IReadOnlyCollection<string> signedHeaderNames, AwsCredentials credentials, string region, string service, DateTimeOffset signedAt)
    {
        var (canonical, signedHeaders) = CanonicalRequest(request, signedHeaderNames);
        return Finish(canonical, signedHeaders, credentials, region, service, signedAt);
    }

    public static string FormatDate(DateTimeOffset at) => at.UtcDateTime.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture);

    public static DateTimeOffset ParseDate(string text) =>
        DateTimeOffset.ParseExact(text, "yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal);

    private static SigV4Signature Finish(string canonical, string signedHeaders, AwsCredentials credentials, string region, string service, DateTimeOffset signedAt)
    {
        var date = signedAt.UtcDateTime.ToString("yyyyMMdd", CultureInfo.InvariantCulture);
        var scope = $"{date}/{region}/{service}/aws4_request";
        var stringToSign = $"{Algorithm}\n{FormatDate(signedAt)}\n{scope}\n{Hex(SHA256.HashData(Encoding.UTF8.GetBytes(canonical)))}";

        var key = Hmac(Encoding.UTF8.GetBytes("AWS4" + credentials.SecretAccessKey), date);
        key = Hmac(key, region);
        key = Hmac(key, service);
        key = Hmac(key, "aws4_request");
        var signature = Hex(Hmac(key, stringToSign));
        var authorization = $"{Algorithm} Credential={credentials.AccessKeyId}/{scope}, SignedHeaders={signedHeaders}, Signature={signature}";
        return new SigV4Signature(canonical, stringToSign, signature, signedHeaders, authorization);
    }

    private static (string Canonical, string SignedHeaders) CanonicalRequest(SigV4Request request, IReadOnlyCollection<string>? only)
    {
        // Same-named headers are joined with commas in the order they came; values are trimmed and their
        // inner runs of spaces collapsed, as the suite's get-header-value-trim case shows.
        var headers = new SortedDictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (var (name, value) in request.Headers)
        {
            var lower = name.Trim().ToLowerInvariant();
            if (only is not null && !only.Contains(lower))
            {
                continue;
            }
            if (!headers.TryGetValue(lower, out var values))
            {
                headers[lower] = values = [];
            }
            values.Add(CollapseSpaces(value));
        }

        var signedHeaders = string.Join(';', headers.Keys);
        var builder = new StringBuilder();
        builder.Append(request.Method.ToUpperInvariant()).Append('\n');
        builder.Append(request.NormalizePath ? CanonicalPath(request.Path) : CanonicalPathAsSent(request.Path)).Append('\n');
        builder.Append(CanonicalQuery(request.Query)).Append('\n');
        foreach (var (name, values) in headers)
        {
            builder.Append(name).Append(':').Append(string.Join(',', values)).Append('\n');
        }
        builder.Append('\n').Append(signedHeaders).Append('\n');
        builder.Append(request.PayloadHash ?? Hex(SHA256.HashData(request.Body.Span)));
        return (builder.ToString(), signedHeaders);
    }

    /// <summary>S3's rule: every segment percent-encoded once, none removed.</summary>
    public static string CanonicalPathAsSent(string path) =>
        string.IsNullOrEmpty(path) ? "/" : string.Join('/', path.Split('/').Select(segment => Encode(Uri.UnescapeDataString(segment))));

    /// <summary>Removes dot segments and empty segments, then percent-encodes each segment (non-S3 rules).</summary>
    public static string CanonicalPath(string path)
    {
        if (string.IsNullOrEmpty(path))
        {
            return "/";
        }
        var segments = new List<string>();
        foreach (var segment in path.Split('/'))
        {
            switch (segment)
            {
                case "" or ".":
                    continue;
                case "..":
                    if (segments.Count > 0)
                    {
                        segments.RemoveAt(segments.Count - 1);
                    }
                    continue;
                default:
                    segments.Add(Encode(Uri.UnescapeDataString(segment)));
                    break;
            }
        }
        var joined = "/" + string.Join('/', segments);
        var endsWithSlash = path.EndsWith('/') || path.EndsWith("/.", StringComparison.Ordinal) || path.EndsWith("/..", StringComparison.Ordinal);
        return segments.Count > 0 && endsWithSlash ? joined + "/" : joined;
    }

    public static string CanonicalQuery(string query)
    {
        if (string.IsNullOrEmpty(query))
        {
            return "";
        }
        var pairs = new List<(string Key, string Value)>();
        foreach (var part in query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var equals = part.IndexOf('=', StringComparison.Ordinal);
            var key = equals < 0 ? part : part[..equals];
            var value = equals < 0 ? "" : part[(equals + 1)..];
            pairs.Add((Encode(Uri.UnescapeDataString(key)), Encode(Uri.UnescapeDataString(value))));
        }
        pairs.Sort((a, b) =>
        {
            var byKey = string.CompareOrdinal(a.Key, b.Key);
            return byKey != 0 ? byKey : string.CompareOrdinal(a.Value, b.Value);
        });
        return string.Join('&', pairs.Select(p => p.Key + "=" + p.Value));
    }

    /// <summary>RFC 3986 encoding: everything but unreserved characters, UTF-8, upper-case hex.</summary>
    public static string Encode(string text)
    {
        var builder = new StringBuilder(text.Length);
        foreach (var b in Encoding.UTF8.GetBytes(text))
        {
            var c = (char)b;
            if (c is (>= 'A' and <= 'Z') or (>= 'a' and <= 'z') or (>= '0' and <= '9') or '-' or '_' or '.' or '~')
            {
                builder.Append(c);
            }
            else
            {
                builder.Append('%').Append(b.ToString("X2", CultureInfo.InvariantCulture));
            }
        }
        return builder.ToString();
    }

    private static string CollapseSpaces(string value)
    {
        var builder = new StringBuilder(value.Length);
        var lastWasSpace = false;
        foreach (var c in value.Trim())
        {
            var isSpace = c is ' ' or '\t';
            if (isSpace && lastWasSpace)
            {
                continue;
            }
            builder.Append(isSpace ? ' ' : c);
            lastWasSpace = isSpace;
        }
        return builder.ToString();
    }

    private static byte[] Hmac(byte[] key, string data) => HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(data));

    public static string Hex(ReadOnlySpan<byte> bytes) => Convert.ToHexStringLower(bytes);
}
