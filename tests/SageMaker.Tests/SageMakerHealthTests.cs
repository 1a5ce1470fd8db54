using Batchyard.Aws;
using Batchyard.Backends;
using Batchyard.Backends.SageMaker;
using Microsoft.Extensions.Logging.Abstractions;

namespace Batchyard.SageMaker.Tests;

public sealed class SageMakerHealthTests
{
    [Fact]
    public async Task Check_AgainstTheEmulator_IsReachable_AndCachedForAMinute()
    {
        await using var rig = await SageMakerRig.StartAsync();
        var health = new SageMakerHealth(rig.SageMakerClient, TimeProvider.System);
        var before = rig.Emulator.Stats.Calls("ListProcessingJobs");

        var first = await health.CheckAsync(CancellationToken.None);
        var second = await health.CheckAsync(CancellationToken.None);

        Assert.True(first.Reachable, first.Summary);
        Assert.StartsWith("reachable", first.Summary, StringComparison.Ordinal);
        Assert.Equal(rig.Endpoint.ToString(), first.Endpoint);
        Assert.Same(first, second);
        Assert.Equal(1, rig.Emulator.Stats.Calls("ListProcessingJobs") - before);
    }

    [Fact]
    public async Task Check_WithoutARegion_SaysNotConfigured()
    {
        using var http = new HttpClient();
        var wire = new AwsJsonClient(http, AwsServiceInfo.SageMaker, () => AwsEnvironment.ResolveEndpoint(AwsServiceInfo.SageMaker, AwsEnvironment.ResolveRegion(_ => null), _ => null),
            new StaticAwsCredentialSource(new AwsCredentials("AKID", "secret", null)), new AwsRetryPolicy(new AwsRetryOptions()), SageMakerClient.Json, TimeProvider.System, NullLogger.Instance);

        var report = await new SageMakerHealth(new SageMakerClient(wire), TimeProvider.System).CheckAsync(CancellationToken.None);

        Assert.False(report.Reachable);
        Assert.StartsWith("not configured: no AWS region", report.Summary, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Check_ANonListeningEndpoint_IsUnreachable()
    {
        using var http = new HttpClient();
        var port = FreePort();
        var wire = new AwsJsonClient(http, AwsServiceInfo.SageMaker, new AwsEndpoint(new Uri($"http://127.0.0.1:{port}"), "us-east-1"),
            new StaticAwsCredentialSource(new AwsCredentials("AKID", "secret", null)),
            new AwsRetryPolicy(new AwsRetryOptions { MaxAttempts = 1 }), SageMakerClient.Json, TimeProvider.System, NullLogger.Instance);

        var report = await new SageMakerHealth(new SageMakerClient(wire), TimeProvider.System).CheckAsync(CancellationToken.None);

        Assert.False(report.Reachable);
        Assert.StartsWith("unreachable", report.Summary, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DescribeHealth_BothBackendsAgainstTheEmulator_AreOk_WithTheirConsolePages_FromOneCall()
    {
        await using var rig = await SageMakerRig.StartAsync();
        var before = rig.Emulator.Stats.Calls("ListProcessingJobs");

        var processing = await rig.Processing.DescribeHealthAsync(CancellationToken.None);
        var training = await rig.Training.DescribeHealthAsync(CancellationToken.None);

        Assert.Equal(("sagemaker", BackendStatus.Ok), (processing.Backend, processing.Status));
        Assert.Equal(("sagemaker-training", BackendStatus.Ok), (training.Backend, training.Status));
        Assert.StartsWith("reachable", processing.Message, StringComparison.Ordinal);
        Assert.Equal(rig.Endpoint.ToString(), processing.Fact("endpoint"));
        Assert.Equal("us-east-1", processing.Fact("region"));
        Assert.Equal("set", processing.Fact("execution role"));
        Assert.Equal("https://us-east-1.console.aws.amazon.com/sagemaker/home?region=us-east-1#/processing-jobs", Assert.Single(processing.Links).Url.AbsoluteUri);
        Assert.Equal("https://us-east-1.console.aws.amazon.com/sagemaker/home?region=us-east-1#/jobs", Assert.Single(training.Links).Url.AbsoluteUri);
        Assert.Equal(1, rig.Emulator.Stats.Calls("ListProcessingJobs") - before);
    }

    [Fact]
    public void Describe_ReachableButWithoutAnExecutionRole_IsDegraded_AndSaysTasksAreRefused()
    {
        var report = new SageMakerHealthReport(BackendStatus.Ok, "reachable (12 ms)", "https://api.sagemaker.eu-west-1.amazonaws.com/", "eu-west-1", DateTimeOffset.UnixEpoch);

        var health = SageMakerHealth.Describe("sagemaker", SageMakerJobKind.Processing, roleArn: null, report);

        Assert.Equal(BackendStatus.Degraded, health.Status);
        Assert.Equal("reachable (12 ms), but Batchyard:SageMaker:RoleArn is not set: its tasks are refused", health.Message);
        Assert.Equal("not set (Batchyard:SageMaker:RoleArn)", health.Fact("execution role"));
        Assert.Equal("1970-01-01 00:00:00 UTC", health.Fact("checked"));
    }

    [Fact]
    public void Describe_NotConfigured_IsUnavailable_WithoutEndpointOrLinks()
    {
        var report = new SageMakerHealthReport(BackendStatus.Unavailable, "not configured: no AWS region", null, null, DateTimeOffset.UnixEpoch);

        var health = SageMakerHealth.Describe("sagemaker-training", SageMakerJobKind.Training, "arn:aws:iam::123456789012:role/x", report);

        Assert.Equal(BackendStatus.Unavailable, health.Status);
        Assert.Equal("not configured: no AWS region", health.Message);
        Assert.Null(health.Fact("endpoint"));
        Assert.Empty(health.Links);
    }

    private static int FreePort() => Batchyard.Testing.FreePorts.Next();
}
