using System.Security.Cryptography;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using Batchyard.Aws;
using Microsoft.AspNetCore.Http.Features;

namespace Batchyard.SageMakerEmulator;

/// <summary>
/// The emulator's S3, path-style REST as S3 documents it: CreateBucket (<c>PUT /bucket</c>), PutObject
/// (<c>PUT /bucket/key</c>), GetObject and HeadObject (<c>GET</c>/<c>HEAD /bucket/key</c>). SigV4 is verified for
/// service <c>s3</c> with <c>x-amz-content-sha256</c>; errors are S3's XML bodies; faults are injected per operation
/// (<c>GetObject</c>, <c>PutObject</c>, …) as for the JSON operations. Anything else answers <c>NotImplemented</c>.
/// </summary>
public static partial class S3Api
{
    private const string UnsignedPayload = "UNSIGNED-PAYLOAD";

    private static readonly string[] Methods = ["GET", "PUT", "HEAD", "POST", "DELETE"];

    [GeneratedRegex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")]
    private static partial Regex BucketName();

    public static void Map(WebApplication app)
    {
        // Literal routes (/_emulator/…) win over these; POST / stays the JSON 1.1 wire.
        app.MapMethods("/{bucket}", Methods, HandleAsync);
        app.MapMethods("/{bucket}/{**key}", Methods, HandleAsync);
    }

    private static async Task HandleAsync(HttpContext context, S3Store objects, SigV4Verifier verifier, FaultInjector faults)
    {
        var request = context.Request;
        var raw = context.Features.Get<IHttpRequestFeature>()?.RawTarget ?? request.Path.ToString();
        var queryAt = raw.IndexOf('?', StringComparison.Ordinal);
        var path = queryAt < 0 ? raw : raw[..queryAt];
        var query = queryAt < 0 ? "" : raw[(queryAt + 1)..];
        var slash = path.IndexOf('/', 1);
        var bucket = Uri.UnescapeDataString(slash < 0 ? path[1..] : path[1..slash]);
        var key = slash < 0 ? "" : Uri.UnescapeDataString(path[(slash + 1)..]);

        var operation = (request.Method, key.Length > 0) switch
        {
            ("PUT", false) => "CreateBucket",
            ("PUT", true) when !request.Headers.ContainsKey("x-amz-copy-source") => "PutObject",
            ("GET", true) => "GetObject",
            ("HEAD", true) => "HeadObject",
            _ => null,
        };
        // The JavaScript SDK names the operation in the query (x-id=GetObject); any other parameter is a sub-resource.
        if (operation is null || query.Split('&', StringSplitOptions.RemoveEmptyEntries).Any(p => !p.StartsWith("x-id=", StringComparison.Ordinal)))
        {
            await ErrorAsync(context, 501, "NotImplemented", "A header or query you provided implies functionality that is not implemented.");
            return;
        }

        using var buffer = new MemoryStream();
        await request.Body.CopyToAsync(buffer, context.RequestAborted);
        var body = buffer.ToArray();

        var contentSha256 = request.Headers["x-amz-content-sha256"].ToString();
        if (contentSha256.Length == 0)
        {
            await ErrorAsync(context, 400, "InvalidRequest", "Missing required header for this request: x-amz-content-sha256");
            return;
        }
        if (contentSha256.StartsWith("STREAMING-", StringComparison.Ordinal))
        {
            await ErrorAsync(context, 501, "NotImplemented", $"aws-chunked uploads ({contentSha256}) are not emulated");
            return;
        }
        if (contentSha256 != UnsignedPayload && contentSha256 != SigV4Signer.Hex(SHA256.HashData(body)))
        {
            await ErrorAsync(context, 400, "XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header does not match what was computed.");
            return;
        }
        if (verifier.Verify(request, body, AwsServiceInfo.S3.SigningName, contentSha256) is { } refused)
        {
            var (status, code, message) = refused.Code switch
            {
                "MissingAuthenticationTokenException" => (403, "AccessDenied", "Access Denied"),
                "IncompleteSignatureException" => (400, "AuthorizationHeaderMalformed", refused.Message),
                "UnrecognizedClientException" => (403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records."),
                _ when refused.Message.StartsWith("Signature expired", StringComparison.Ordinal)
                    => (403, "RequestTimeTooSkewed", "The difference between the request time and the current time is too large."),
                _ => (403, "SignatureDoesNotMatch", refused.Message),
            };
            await ErrorAsync(context, status, code, message);
            return;
        }

        var fault = faults.Decide(operation);
        switch (fault)
        {
            case Fault.Throttle:
                await ErrorAsync(context, 503, "SlowDown", "Please reduce your request rate.");
                return;
            case Fault.InternalError:
                await ErrorAsync(context, 500, "InternalError", "We encountered an internal error. Please try again.");
                return;
            case Fault.Unavailable:
                await ErrorAsync(context, 503, "ServiceUnavailable", "Service is unable to handle request.");
                return;
            case Fault.Slow:
                await Task.Delay(faults.Settings.SlowMilliseconds, context.RequestAborted);
                break;
        }

        switch (operation)
        {
            case "CreateBucket":
                await CreateBucketAsync(context, objects, bucket);
                break;
            case "PutObject":
                await PutObjectAsync(context, objects, bucket, key, body);
                break;
            default:
                await GetObjectAsync(context, objects, bucket, key);
                break;
        }
    }

    private static async Task CreateBucketAsync(HttpContext context, S3Store objects, string bucket)
    {
        if (!BucketName().IsMatch(bucket))
        {
            await ErrorAsync(context, 400, "InvalidBucketName", "The specified bucket is not valid.", bucket: bucket);
            return;
        }
        // The emulator is us-east-1, where creating a bucket one already owns answers 200 again.
        objects.CreateBucket(bucket);
        Common(context.Response);
        context.Response.Headers.Location = "/" + bucket;
    }

    private static async Task PutObjectAsync(HttpContext context, S3Store objects, string bucket, string key, byte[] body)
    {
        var checksums = context.Request.Headers
            .Where(h => h.Key.StartsWith("x-amz-checksum-", StringComparison.OrdinalIgnoreCase) && !h.Key.Equals("x-amz-checksum-type", StringComparison.OrdinalIgnoreCase))
            .ToDictionary(h => h.Key.ToLowerInvariant(), h => h.Value.ToString(), StringComparer.Ordinal);
        if (!objects.TryPut(bucket, key, body, context.Request.ContentType, checksums, out var stored))
        {
            await ErrorAsync(context, 404, "NoSuchBucket", "The specified bucket does not exist", bucket: bucket);
            return;
        }
        var response = context.Response;
        Common(response);
        response.Headers.ETag = stored.ETag;
        foreach (var (name, value) in checksums)
        {
            response.Headers[name] = value;
        }
    }

    private static async Task GetObjectAsync(HttpContext context, S3Store objects, string bucket, string key)
    {
        var found = objects.Find(bucket, key, out var bucketExists);
        if (found is null)
        {
            await (bucketExists
                ? ErrorAsync(context, 404, "NoSuchKey", "The specified key does not exist.", key: key)
                : ErrorAsync(context, 404, "NoSuchBucket", "The specified bucket does not exist", bucket: bucket));
            return;
        }
        var response = context.Response;
        Common(response);
        response.ContentType = found.ContentType;
        response.ContentLength = found.Body.Length;
        response.Headers.ETag = found.ETag;
        response.Headers.LastModified = found.LastModified.ToString("R", System.Globalization.CultureInfo.InvariantCulture);
        response.Headers.AcceptRanges = "bytes";
        if (context.Request.Headers["x-amz-checksum-mode"] == "ENABLED")
        {
            foreach (var (name, value) in found.Checksums)
            {
                response.Headers[name] = value;
            }
        }
        if (!HttpMethods.IsHead(context.Request.Method))
        {
            await response.Body.WriteAsync(found.Body, context.RequestAborted);
        }
    }

    private static void Common(HttpResponse response)
    {
        response.StatusCode = 200;
        response.Headers["x-amz-request-id"] = RequestId();
        response.Headers["x-amz-id-2"] = Convert.ToBase64String(RandomNumberGenerator.GetBytes(24));
    }

    /// <summary>S3's error answer: the status, and (except for HEAD) an XML <c>&lt;Error&gt;</c> document.</summary>
    private static async Task ErrorAsync(HttpContext context, int status, string code, string message, string? bucket = null, string? key = null)
    {
        var response = context.Response;
        Common(response);
        response.StatusCode = status;
        if (HttpMethods.IsHead(context.Request.Method))
        {
            return;
        }
        var error = new XElement("Error", new XElement("Code", code), new XElement("Message", message));
        if (key is not null)
        {
            error.Add(new XElement("Key", key));
        }
        if (bucket is not null)
        {
            error.Add(new XElement("BucketName", bucket));
        }
        error.Add(new XElement("RequestId", response.Headers["x-amz-request-id"].ToString()), new XElement("HostId", response.Headers["x-amz-id-2"].ToString()));
        response.ContentType = "application/xml";
        await response.WriteAsync("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" + error.ToString(SaveOptions.DisableFormatting), context.RequestAborted);
    }

    private static string RequestId() => Convert.ToHexString(RandomNumberGenerator.GetBytes(8));
}
