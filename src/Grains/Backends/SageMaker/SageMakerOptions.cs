using System.Globalization;
using Batchyard.Aws;
using Microsoft.Extensions.Configuration;

namespace Batchyard.Backends.SageMaker;

/// <summary>Settings of both SageMaker backends, from <c>Batchyard:SageMaker</c>.</summary>
public sealed record SageMakerOptions
{
    public const string Section = "Batchyard:SageMaker";

    /// <summary>Execution role passed to every job; a task cannot run without it.</summary>
    public string? RoleArn { get; init; }
    /// <summary>How often a running job's status (and log) is read.</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>Describe calls per second this silo may make to one account and region (SageMaker publishes no rate).</summary>
    public double DescribeRatePerSecond { get; init; } = 4;
    public int DescribeBurst { get; init; } = 4;
    /// <summary>Overrides <c>AWS_REGION</c>.</summary>
    public string? Region { get; init; }
    /// <summary>Overrides <c>AWS_ENDPOINT_URL_SAGEMAKER</c> / <c>AWS_ENDPOINT_URL</c>.</summary>
    public string? Endpoint { get; init; }
    /// <summary>Overrides <c>AWS_ENDPOINT_URL_CLOUDWATCH_LOGS</c> / <c>AWS_ENDPOINT_URL</c>.</summary>
    public string? LogsEndpoint { get; init; }
    /// <summary>Where a processing task's <c>output_json</c> is read; overrides <c>AWS_ENDPOINT_URL_S3</c> / <c>AWS_ENDPOINT_URL</c>.</summary>
    public string? S3Endpoint { get; init; }
    public AwsRetryOptions Retry { get; init; } = new();
    public TimeSpan AttemptTimeout { get; init; } = TimeSpan.FromSeconds(30);

    public static SageMakerOptions From(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var section = configuration.GetSection(Section);
        var defaults = new SageMakerOptions();
        return new SageMakerOptions
        {
            RoleArn = section["RoleArn"],
            PollInterval = Time(section["PollInterval"]) ?? defaults.PollInterval,
            DescribeRatePerSecond = Number(section["DescribeRatePerSecond"]) ?? defaults.DescribeRatePerSecond,
            DescribeBurst = (int?)Number(section["DescribeBurst"]) ?? defaults.DescribeBurst,
            Region = section["Region"],
            Endpoint = section["Endpoint"],
            LogsEndpoint = section["LogsEndpoint"],
            S3Endpoint = section["S3Endpoint"],
            AttemptTimeout = Time(section["AttemptTimeout"]) ?? defaults.AttemptTimeout,
            Retry = new AwsRetryOptions
            {
                MaxAttempts = (int?)Number(section["Retry:MaxAttempts"]) ?? defaults.Retry.MaxAttempts,
                BaseDelay = Time(section["Retry:BaseDelay"]) ?? defaults.Retry.BaseDelay,
                MaxBackoff = Time(section["Retry:MaxBackoff"]) ?? defaults.Retry.MaxBackoff,
            },
        };
    }

    private static TimeSpan? Time(string? text) => string.IsNullOrWhiteSpace(text) ? null : TimeSpan.Parse(text, CultureInfo.InvariantCulture);

    private static double? Number(string? text) => string.IsNullOrWhiteSpace(text) ? null : double.Parse(text, CultureInfo.InvariantCulture);
}
