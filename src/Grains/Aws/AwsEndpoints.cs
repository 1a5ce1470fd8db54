namespace Batchyard.Aws;

/// <summary>What the wire needs to know about one service; <see cref="TargetPrefix"/> is for JSON 1.1 ones only.</summary>
public sealed record AwsServiceInfo(string TargetPrefix, string SigningName, string EndpointPrefix, string EnvironmentSuffix)
{
    public static readonly AwsServiceInfo SageMaker = new("SageMaker", "sagemaker", "api.sagemaker", "SAGEMAKER");
    public static readonly AwsServiceInfo CloudWatchLogs = new("Logs_20140328", "logs", "logs", "CLOUDWATCH_LOGS");
    /// <summary>REST-XML, no target: reached path-style at <c>s3.&lt;region&gt;.amazonaws.com</c>.</summary>
    public static readonly AwsServiceInfo S3 = new("", "s3", "s3", "S3");
}

/// <summary>Where one service is reached and in which region it signs.</summary>
public sealed record AwsEndpoint(Uri Url, string Region);

/// <summary>Region and endpoint resolution as the AWS SDKs do it, from the environment unless configured.</summary>
public static class AwsEnvironment
{
    /// <summary><c>configured</c>, else <c>AWS_REGION</c>, else <c>AWS_DEFAULT_REGION</c>.</summary>
    public static string ResolveRegion(Func<string, string?> environment, string? configured = null)
    {
        var region = NonEmpty(configured) ?? NonEmpty(environment("AWS_REGION")) ?? NonEmpty(environment("AWS_DEFAULT_REGION"));
        return region ?? throw new InvalidOperationException("no AWS region: set AWS_REGION (or Batchyard:SageMaker:Region)");
    }

    /// <summary>
    /// <c>configured</c>, else <c>AWS_ENDPOINT_URL_&lt;SERVICE&gt;</c>, else <c>AWS_ENDPOINT_URL</c>, else the
    /// public endpoint of the region.
    /// </summary>
    public static AwsEndpoint ResolveEndpoint(AwsServiceInfo service, string region, Func<string, string?> environment, string? configured = null)
    {
        var url = NonEmpty(configured)
            ?? NonEmpty(environment("AWS_ENDPOINT_URL_" + service.EnvironmentSuffix))
            ?? NonEmpty(environment("AWS_ENDPOINT_URL"))
            ?? $"https://{service.EndpointPrefix}.{region}.{(region.StartsWith("cn-", StringComparison.Ordinal) ? "amazonaws.com.cn" : "amazonaws.com")}";
        return new AwsEndpoint(new Uri(url, UriKind.Absolute), region);
    }

    private static string? NonEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();
}
