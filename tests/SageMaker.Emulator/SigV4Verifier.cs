using System.Text.RegularExpressions;
using Batchyard.Aws;
using Microsoft.AspNetCore.Http.Features;

namespace Batchyard.SageMakerEmulator;

/// <summary>Checks a request's SigV4 Authorization header against the credentials the emulator knows.</summary>
public sealed partial class SigV4Verifier(EmulatorSettings settings, TimeProvider time)
{
    [GeneratedRegex(@"^AWS4-HMAC-SHA256 Credential=(?<key>[^/]+)/(?<date>\d{8})/(?<region>[^/]+)/(?<service>[^/]+)/aws4_request, ?SignedHeaders=(?<headers>[^,]+), ?Signature=(?<signature>[0-9a-f]{64})$")]
    private static partial Regex Authorization();

    /// <summary>Null when the signature holds; otherwise the error code and message AWS would answer.</summary>
    /// <param name="payloadHash">
    /// S3's <c>x-amz-content-sha256</c>, already checked against the body: given, the request is verified by S3's
    /// rules (path as sent, this value in place of the body's hash).
    /// </param>
    public (string Code, string Message)? Verify(HttpRequest request, byte[] body, string expectedService, string? payloadHash = null)
    {
        var header = request.Headers.Authorization.ToString();
        if (header.Length == 0)
        {
            return ("MissingAuthenticationTokenException", "Missing Authentication Token");
        }
        var match = Authorization().Match(header);
        if (!match.Success)
        {
            return ("IncompleteSignatureException", $"Authorization header is malformed: {header}");
        }
        var keyId = match.Groups["key"].Value;
        if (!settings.Credentials.TryGetValue(keyId, out var secret))
        {
            return ("UnrecognizedClientException", "The security token included in the request is invalid.");
        }
        if (match.Groups["service"].Value != expectedService)
        {
            return ("InvalidSignatureException", $"Credential should be scoped to correct service: '{expectedService}'.");
        }
        var amzDate = request.Headers["X-Amz-Date"].ToString();
        if (amzDate.Length == 0)
        {
            return ("IncompleteSignatureException", "X-Amz-Date is missing");
        }
        var signedAt = SigV4Signer.ParseDate(amzDate);
        if ((time.GetUtcNow() - signedAt).Duration() > settings.MaxSkew)
        {
            return ("InvalidSignatureException", "Signature expired: the request time is too far from the server time.");
        }

        var signedNames = match.Groups["headers"].Value.Split(';');
        if (!signedNames.Contains("host") || !signedNames.Contains("x-amz-date"))
        {
            return ("InvalidSignatureException", "host and x-amz-date must be signed");
        }
        var headers = new List<KeyValuePair<string, string>>();
        foreach (var name in signedNames)
        {
            var values = request.Headers[name];
            if (values.Count == 0)
            {
                return ("InvalidSignatureException", $"signed header '{name}' is missing");
            }
            headers.Add(new(name, string.Join(',', values.Select(v => v ?? ""))));
        }

        var raw = request.HttpContext.Features.Get<IHttpRequestFeature>()?.RawTarget ?? "/";
        var query = raw.IndexOf('?', StringComparison.Ordinal);
        var path = query < 0 ? raw : raw[..query];
        var queryText = query < 0 ? "" : raw[(query + 1)..];
        var signing = payloadHash is null
            ? new SigV4Request(request.Method, Uri.UnescapeDataString(path), queryText, headers, body)
            : new SigV4Request(request.Method, path, queryText, headers, body) { NormalizePath = false, PayloadHash = payloadHash };
        var expected = SigV4Signer.SignWithHeaders(
            signing,
            signedNames,
            new AwsCredentials(keyId, secret),
            match.Groups["region"].Value,
            expectedService,
            signedAt);
        return expected.Signature == match.Groups["signature"].Value
            ? null
            : ("InvalidSignatureException", "The request signature we calculated does not match the signature you provided.");
    }
}
