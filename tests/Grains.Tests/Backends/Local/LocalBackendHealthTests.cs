using Batchyard.Backends;
using Batchyard.Backends.Local;
using static Batchyard.Tests.Backends.Local.LocalTestKit;

namespace Batchyard.Tests.Backends.Local;

/// <summary>The local backend's description of itself: isolation and the host's memory budget.</summary>
public sealed class LocalBackendHealthTests
{
    [Fact]
    public async Task DescribeHealth_WithoutACgroup_IsDegraded_AndSaysWhyJobsRunWithoutLimits()
    {
        await using var backend = NewBackend(capacityMb: 300, cgroupRoot: "/nonexistent/batchyard-cgroup-root");

        var health = await backend.DescribeHealthAsync(CancellationToken.None);

        Assert.Equal("local", health.Backend);
        Assert.Equal(BackendStatus.Degraded, health.Status);
        Assert.Equal("jobs run WITHOUT memory limits", health.Message);
        Assert.Equal(backend.Isolation, health.Fact(LocalBackendHealth.IsolationFact));
        Assert.StartsWith("none: ", health.Fact(LocalBackendHealth.IsolationFact), StringComparison.Ordinal);
        Assert.Equal("0 / 300 MB", health.Fact("memory in use"));
    }

    [Fact]
    public async Task DescribeHealth_WithCgroups_IsOk_AndCountsTheMemoryOfRunningJobs()
    {
        await using var backend = NewBackend(capacityMb: 300);
        RequireCgroup(backend);
        var log = new RecordingLog();
        var request = Request(["sh", "-c", "echo started; sleep 30"], log, memoryMb: 64);
        await backend.SubmitAsync(request, CancellationToken.None);
        await log.WaitForAsync(t => t.Contains("started", StringComparison.Ordinal), Patience);

        var health = await backend.DescribeHealthAsync(CancellationToken.None);
        await backend.StopAsync(request.Job, CancellationToken.None);

        Assert.Equal(BackendStatus.Ok, health.Status);
        Assert.Equal("jobs run in memory-limited cgroups", health.Message);
        Assert.StartsWith("cgroup", health.Fact(LocalBackendHealth.IsolationFact), StringComparison.Ordinal);
        Assert.Equal("64 / 300 MB", health.Fact("memory in use"));
    }
}
