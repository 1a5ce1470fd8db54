using System.Net;
using System.Text.Json;
using System.Xml;
using System.Xml.Linq;

namespace Batchyard.Aws;

/// <summary>An error answer from an AWS service, decoded from the JSON 1.1 body and headers.</summary>
public class AwsServiceException(string errorCode, string message, HttpStatusCode statusCode, string? requestId)
    : Exception($"{errorCode}: {message}")
{
    /// <summary>The short error code, e.g. <c>ThrottlingException</c>, with any namespace stripped.</summary>
    public string ErrorCode { get; } = errorCode;
    public string ServiceMessage { get; } = message;
    public HttpStatusCode StatusCode { get; } = statusCode;
    public string? RequestId { get; } = requestId;
}

/// <summary>Too many requests; always worth trying again later.</summary>
public sealed class AwsThrottlingException(string errorCode, string message, HttpStatusCode statusCode, string? requestId)
    : AwsServiceException(errorCode, message, statusCode, requestId);

/// <summary>Input refused; SageMaker also answers this for a Describe of a job that does not exist.</summary>
public sealed class AwsValidationException(string errorCode, string message, HttpStatusCode statusCode, string? requestId)
    : AwsServiceException(errorCode, message, statusCode, requestId);

/// <summary>A resource with that name already exists (SageMaker <c>ResourceInUse</c>).</summary>
public sealed class AwsResourceInUseException(string errorCode, string message, HttpStatusCode statusCode, string? requestId)
    : AwsServiceException(errorCode, message, statusCode, requestId);

/// <summary>No such resource (SageMaker <c>ResourceNotFound</c>, Logs <c>ResourceNotFoundException</c>, S3 <c>NoSuchKey</c> / <c>NoSuchBucket</c>).</summary>
public sealed class AwsResourceNotFoundException(string errorCode, string message, HttpStatusCode statusCode, string? requestId)
    : AwsServiceException(errorCode, message, statusCode, requestId);

/// <summary>Signature, credentials or permissions refused.</summary>
public sealed class AwsAccessException(string errorCode, string message, HttpStatusCode statusCode, string? requestId)
    : AwsServiceException(errorCode, message, statusCode, requestId);

/// <summary>A 5xx answer from the service.</summary>
public sealed class AwsServerException(string errorCode, string message, HttpStatusCode statusCode, string? requestId)
    : AwsServiceException(errorCode, message, statusCode, requestId);

/// <summary>Turns an error answer into a typed exception.</summary>
public static class AwsErrorDecoder
{
    /// <summary>Codes the SDKs' standard retry mode treats as throttling.</summary>
    public static readonly IReadOnlySet<string> ThrottlingCodes = new HashSet<string>(StringComparer.Ordinal)
    {
        "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
        "TooManyRequestsException", "ProvisionedThroughputExceededException", "TransactionInProgressException",
        "RequestLimitExceeded", "BandwidthLimitExceeded", "LimitExceededException", "RequestThrottled",
        "SlowDown", "PriorRequestNotComplete", "EC2ThrottledException",
    };

    private static readonly HashSet<string> AccessCodes = new(StringComparer.Ordinal)
    {
        "AccessDeniedException", "UnrecognizedClientException", "InvalidSignatureException",
        "IncompleteSignature", "MissingAuthenticationToken", "ExpiredTokenException", "SignatureDoesNotMatch",
        "AccessDenied", "InvalidAccessKeyId",
    };

    public static AwsServiceException Decode(HttpStatusCode status, string? errorTypeHeader, string? requestId, string body)
    {
        string? type = null;
        string? message = null;
        if (!string.IsNullOrWhiteSpace(body))
        {
            try
            {
                using var document = JsonDocument.Parse(body);
                if (document.RootElement.ValueKind == JsonValueKind.Object)
                {
                    foreach (var property in document.RootElement.EnumerateObject())
                    {
                        if (property.Value.ValueKind != JsonValueKind.String)
                        {
                            continue;
                        }
                        if (property.NameEquals("__type") || property.NameEquals("code") || property.NameEquals("Code"))
                        {
                            type ??= property.Value.GetString();
                        }
                        else if (property.NameEquals("message") || property.NameEquals("Message") || property.NameEquals("errorMessage"))
                        {
                            message ??= property.Value.GetString();
                        }
                    }
                }
            }
            catch (JsonException)
            {
                // A proxy or load balancer may answer with HTML; the status code still tells what happened.
            }
        }

        // The header wins: it is what the service meant, the body may be a generic wrapper.
        return Classify(status, ShortCode(errorTypeHeader) ?? ShortCode(type), message ?? (string.IsNullOrWhiteSpace(body) ? null : Truncate(body)), requestId);
    }

    /// <summary>
    /// S3's REST-XML error answer (<c>&lt;Error&gt;&lt;Code&gt;NoSuchKey&lt;/Code&gt;&lt;Message&gt;…</c>); a HEAD
    /// or a proxy's answer may have no such body, and then the status code tells.
    /// </summary>
    public static AwsServiceException DecodeXml(HttpStatusCode status, string? requestId, string body)
    {
        string? code = null;
        string? message = null;
        if (!string.IsNullOrWhiteSpace(body))
        {
            try
            {
                var root = XDocument.Parse(body).Root;
                if (root?.Name.LocalName == "Error")
                {
                    code = root.Element("Code")?.Value;
                    message = root.Element("Message")?.Value;
                }
            }
            catch (XmlException)
            {
                // Not S3's XML: keep the text as the message below.
            }
        }
        return Classify(status, ShortCode(code), message ?? (string.IsNullOrWhiteSpace(body) ? null : Truncate(body)), requestId);
    }

    private static AwsServiceException Classify(HttpStatusCode status, string? errorCode, string? errorMessage, string? requestId)
    {
        var code = errorCode ?? DefaultCode(status);
        var message = errorMessage ?? status.ToString();
        if (ThrottlingCodes.Contains(code) || status == HttpStatusCode.TooManyRequests)
        {
            return new AwsThrottlingException(code, message, status, requestId);
        }
        if ((int)status >= 500)
        {
            return new AwsServerException(code, message, status, requestId);
        }
        return code switch
        {
            "ValidationException" => new AwsValidationException(code, message, status, requestId),
            "ResourceInUse" or "ResourceInUseException" or "ResourceAlreadyExistsException" => new AwsResourceInUseException(code, message, status, requestId),
            "ResourceNotFound" or "ResourceNotFoundException" or "NoSuchKey" or "NoSuchBucket" => new AwsResourceNotFoundException(code, message, status, requestId),
            _ when AccessCodes.Contains(code) || status is HttpStatusCode.Forbidden or HttpStatusCode.Unauthorized
                => new AwsAccessException(code, message, status, requestId),
            _ => new AwsServiceException(code, message, status, requestId),
        };
    }

    /// <summary>
    /// <c>com.amazonaws.sagemaker#ValidationException</c> and <c>ValidationException:http://internal/</c>
    /// both mean <c>ValidationException</c>.
    /// </summary>
    public static string? ShortCode(string? raw)
    {
        if (string.IsNullOrWhiteSpace(raw))
        {
            return null;
        }
        var code = raw.Trim();
        var colon = code.IndexOf(':', StringComparison.Ordinal);
        if (colon >= 0)
        {
            code = code[..colon];
        }
        var hash = code.LastIndexOf('#');
        if (hash >= 0)
        {
            code = code[(hash + 1)..];
        }
        return code.Length == 0 ? null : code;
    }

    private static string DefaultCode(HttpStatusCode status) => (int)status >= 500 ? "InternalFailure" : $"Http{(int)status}";

    private static string Truncate(string text) => text.Length <= 300 ? text : text[..300];
}
