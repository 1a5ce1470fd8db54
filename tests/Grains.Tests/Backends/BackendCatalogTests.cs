using System.Runtime.CompilerServices;
using Batchyard.Backends;
using Batchyard.Backends.Noop;
using Batchyard.Dags;
using Batchyard.Logs;

namespace Batchyard.Tests.Backends;

/// <summary>The catalog gathers every backend's description of itself, whatever the backend, and never waits on or breaks for one.</summary>
public sealed class BackendCatalogTests
{
    [Fact]
    public async Task DescribeHealth_GivesEachBackendsOwnDescription_ByName()
    {
        var catalog = new BackendCatalog([new Described("zeta", BackendStatus.Unavailable), new NoopJobBackend(TimeProvider.System), new Described("alpha", BackendStatus.Ok)]);

        var health = await catalog.DescribeHealthAsync();

        Assert.Equal(["alpha", "noop", "zeta"], health.Select(h => h.Backend));
        Assert.Equal([BackendStatus.Ok, BackendStatus.Ok, BackendStatus.Unavailable], health.Select(h => h.Status));
        Assert.Equal("zeta says hello", health[2].Message);
    }

    [Fact]
    public async Task DescribeHealth_ABackendTooSlowToAnswer_IsDegraded_AndTheOthersAreNotHeldUp()
    {
        var slow = new TaskCompletionSource<BackendHealth>();
        var catalog = new BackendCatalog([new Described("slow", BackendStatus.Ok, slow.Task), new Described("quick", BackendStatus.Ok)]);

        var health = await catalog.DescribeHealthAsync(TimeSpan.FromMilliseconds(100));

        var late = health.Single(h => h.Backend == "slow");
        Assert.Equal(BackendStatus.Degraded, late.Status);
        Assert.Equal("no description within 0.1 s; still checking", late.Message);
        Assert.Equal(BackendStatus.Ok, health.Single(h => h.Backend == "quick").Status);
    }

    [Fact]
    public async Task DescribeHealth_ABackendThatThrows_IsDegraded_WithWhy()
    {
        var catalog = new BackendCatalog([new Described("broken", BackendStatus.Ok, Task.FromException<BackendHealth>(new InvalidOperationException("no config")))]);

        var health = Assert.Single(await catalog.DescribeHealthAsync());

        Assert.Equal(BackendStatus.Degraded, health.Status);
        Assert.Equal("describing itself failed: no config", health.Message);
    }

    /// <summary>A backend that describes itself as told (or with <paramref name="answer"/>, which may be slow or fail).</summary>
    private sealed class Described(string name, BackendStatus status, Task<BackendHealth>? answer = null) : IJobBackend
    {
        public string Name => name;

        public IEnumerable<BackendProblem> Validate(TaskDefinition task) => [];

        public Task<JobStatus> SubmitAsync(JobRequest request, CancellationToken cancellationToken) => throw new NotSupportedException();

        public async IAsyncEnumerable<JobStatus> WatchAsync(JobRef job, IAttemptLog log, [EnumeratorCancellation] CancellationToken cancellationToken)
        {
            await Task.CompletedTask;
            yield break;
        }

        public Task StopAsync(JobRef job, CancellationToken cancellationToken) => Task.CompletedTask;

        public Task<BackendHealth> DescribeHealthAsync(CancellationToken cancellationToken) =>
            answer ?? Task.FromResult(new BackendHealth { Backend = name, Status = status, Message = $"{name} says hello" });
    }
}
