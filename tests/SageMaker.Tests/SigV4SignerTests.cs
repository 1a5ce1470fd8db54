using System.Text;
using Amazon.Runtime;
using Amazon.Runtime.Signing;
using Batchyard.Aws;

namespace Batchyard.SageMaker.Tests;

public sealed class SigV4SignerTests
{
    private static readonly AwsCredentials SuiteCredentials = new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
    private static readonly DateTimeOffset SuiteTime = new(2015, 8, 30, 12, 36, 0, TimeSpan.Zero);

    private static string Suite => Path.Combine(TestPaths.Reference, "aws-sigv4-testsuite");

    /// <summary>Every case folder (nested ones included) that holds a .req file.</summary>
    public static TheoryData<string> Cases()
    {
        var data = new TheoryData<string>();
        foreach (var req in Directory.EnumerateFiles(Suite, "*.req", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            data.Add(Path.GetRelativePath(Suite, req));
        }
        return data;
    }

    [Fact]
    public void The_suite_is_there_with_all_its_cases()
    {
        Assert.True(Cases().Count >= 30, $"expected the whole SigV4 suite under {Suite}, found {Cases().Count} cases");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Sign_SuiteCase_MatchesCanonicalRequestStringToSignAndAuthorization(string reqFile)
    {
        var path = Path.Combine(Suite, reqFile);
        var stem = path[..^".req".Length];
        var request = ParseRequest(File.ReadAllText(path));

        var signature = SigV4Signer.Sign(request, CredentialsFor(request, File.ReadAllText(stem + ".sreq")), "us-east-1", "service", SuiteTime);

        Assert.Equal(Normalize(File.ReadAllText(stem + ".creq")), signature.CanonicalRequest);
        Assert.Equal(Normalize(File.ReadAllText(stem + ".sts")), signature.StringToSign);
        Assert.Equal(Normalize(File.ReadAllText(stem + ".authz")), signature.Authorization);
    }

    [Fact]
    public void Sign_JsonRequest_AgreesWithAwsSdkSigner()
    {
        var body = Encoding.UTF8.GetBytes("""{"ProcessingJobName":"dag-task-a1-0123456789"}""");
        var credentials = new AwsCredentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "session-token-value");
        var headers = new List<KeyValuePair<string, string>>
        {
            new("Host", "api.sagemaker.eu-west-1.amazonaws.com"),
            new("X-Amz-Date", SigV4Signer.FormatDate(SuiteTime)),
            new("X-Amz-Target", "SageMaker.DescribeProcessingJob"),
            new("Content-Type", AwsJsonClient.ContentType),
            new("X-Amz-Security-Token", credentials.SessionToken!),
            new("X-Amz-Content-Sha256", SigV4Signer.Hex(System.Security.Cryptography.SHA256.HashData(body))),
        };
        var ours = SigV4Signer.Sign(new SigV4Request("POST", "/", "", headers, body), credentials, "eu-west-1", "sagemaker", SuiteTime);

        var sdkRequest = new AWSSigningRequest
        {
            HttpMethod = HttpMethod.Post,
            RequestUri = new Uri("https://api.sagemaker.eu-west-1.amazonaws.com/"),
            Content = body,
        };
        sdkRequest.Headers["X-Amz-Target"] = "SageMaker.DescribeProcessingJob";
        sdkRequest.Headers["Content-Type"] = AwsJsonClient.ContentType;
        var sdk = AWSSigV4Signer.Sign(sdkRequest, new AWSSigV4Parameters
        {
            Credentials = new SessionAWSCredentials(credentials.AccessKeyId, credentials.SecretAccessKey, credentials.SessionToken),
            Region = Amazon.RegionEndpoint.EUWest1,
            Service = "sagemaker",
            SignedAt = SuiteTime.UtcDateTime,
        });

        var sdkAuthorization = sdk.Headers.First(h => h.Key.Equals("Authorization", StringComparison.OrdinalIgnoreCase)).Value;
        Assert.Equal(ours.Authorization, sdkAuthorization);
    }

    [Theory]
    [InlineData("eval/run1/metrics.json")]
    [InlineData("eval/run 1/a+b=c/ünï//./metrics (final)~.json")]
    public void Sign_S3GetObject_AgreesWithAwsSdkSigner(string key)
    {
        var location = new S3Location("ml-bucket", key);
        var headers = new List<KeyValuePair<string, string>>
        {
            new("Host", "s3.eu-west-1.amazonaws.com"),
            new("X-Amz-Date", SigV4Signer.FormatDate(SuiteTime)),
            new("X-Amz-Content-SHA256", SigV4Signer.EmptyBodySha256),
        };
        var ours = SigV4Signer.Sign(new SigV4Request("GET", location.Path, "", headers, ReadOnlyMemory<byte>.Empty) { NormalizePath = false }, SuiteCredentials, "eu-west-1", "s3", SuiteTime);

        var sdk = AWSSigV4Signer.Sign(new AWSSigningRequest
        {
            HttpMethod = HttpMethod.Get,
            RequestUri = new Uri("https://s3.eu-west-1.amazonaws.com" + location.Path, new UriCreationOptions { DangerousDisablePathAndQueryCanonicalization = true }),
        }, new AWSSigV4Parameters
        {
            Credentials = new BasicAWSCredentials(SuiteCredentials.AccessKeyId, SuiteCredentials.SecretAccessKey),
            Region = Amazon.RegionEndpoint.EUWest1,
            Service = "s3",
            SignedAt = SuiteTime.UtcDateTime,
        });

        var sdkAuthorization = sdk.Headers.First(h => h.Key.Equals("Authorization", StringComparison.OrdinalIgnoreCase)).Value;
        Assert.Equal(sdkAuthorization, ours.Authorization);
    }

    [Fact]
    public void CanonicalPathAsSent_EncodesEachSegmentOnceAndRemovesNone()
    {
        Assert.Equal("/b/a//./c%20d/%C3%BC%2B", SigV4Signer.CanonicalPathAsSent("/b/a//./c%20d/ü+"));
        Assert.Equal("/b/a/c%20d/%C3%BC%2B", SigV4Signer.CanonicalPath("/b/a//./c%20d/ü+"));
    }

    /// <summary>
    /// A case whose signed request carries a signed security token its raw request lacks was signed with
    /// session credentials (get-vanilla-with-session-token); post-sts-header-after adds one unsigned, after.
    /// </summary>
    private static AwsCredentials CredentialsFor(SigV4Request request, string signedRequest)
    {
        var signed = ParseRequest(signedRequest);
        var token = signed.Headers.FirstOrDefault(h => h.Key.Equals("X-Amz-Security-Token", StringComparison.OrdinalIgnoreCase)).Value;
        var signsToken = signed.Headers.Any(h => h.Key.Equals("Authorization", StringComparison.OrdinalIgnoreCase) && h.Value.Contains("x-amz-security-token", StringComparison.Ordinal));
        var inRequest = request.Headers.Any(h => h.Key.Equals("X-Amz-Security-Token", StringComparison.OrdinalIgnoreCase));
        return token is not null && signsToken && !inRequest ? SuiteCredentials with { SessionToken = token } : SuiteCredentials;
    }

    /// <summary>Reads a raw request of the suite: request line, headers (folded lines continue a value), blank line, body.</summary>
    internal static SigV4Request ParseRequest(string raw)
    {
        var text = raw.Replace("\r\n", "\n", StringComparison.Ordinal);
        var split = text.IndexOf("\n\n", StringComparison.Ordinal);
        var head = split < 0 ? text : text[..split];
        var body = split < 0 ? "" : text[(split + 2)..];
        var lines = head.Split('\n');
        var requestLine = lines[0];
        var method = requestLine[..requestLine.IndexOf(' ', StringComparison.Ordinal)];
        var target = requestLine[(method.Length + 1)..requestLine.LastIndexOf(" HTTP/", StringComparison.Ordinal)];
        var question = target.IndexOf('?', StringComparison.Ordinal);
        var headers = new List<KeyValuePair<string, string>>();
        foreach (var line in lines.Skip(1))
        {
            if (line.Length > 0 && char.IsWhiteSpace(line[0]) && headers.Count > 0)
            {
                var last = headers[^1];
                headers[^1] = new(last.Key, last.Value + " " + line.Trim());
                continue;
            }
            if (line.Length == 0)
            {
                continue;
            }
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            headers.Add(new(line[..colon], line[(colon + 1)..]));
        }
        return new SigV4Request(
            method,
            question < 0 ? target : target[..question],
            question < 0 ? "" : target[(question + 1)..],
            headers,
            Encoding.UTF8.GetBytes(body));
    }

    private static string Normalize(string text) => text.Replace("\r\n", "\n", StringComparison.Ordinal);
}
