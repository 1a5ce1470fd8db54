using Batchyard.Aws;
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

    private static int FreePort() => Batchyard.Testing.FreePorts.Next();
}
