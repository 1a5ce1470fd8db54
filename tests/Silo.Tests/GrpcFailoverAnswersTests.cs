using Batchyard.V1;
using Grpc.Core;
using Orleans.Runtime;

namespace Batchyard.Tests;

/// <summary>What the gRPC service answers while the cluster fails over: <c>UNAVAILABLE</c> with a retry delay, never <c>UNKNOWN</c>.</summary>
[Collection(HostCollection.Name)]
public sealed class GrpcFailoverAnswersTests(HostFixture fixture)
{
    private readonly BatchyardService.BatchyardServiceClient _client = fixture.Grpc();

    private async Task<Run> FinishedRunAsync(string dagId)
    {
        await _client.ApplyDagAsync(new ApplyDagRequest { DagId = dagId, Source = TestDags.Noop(dagId) });
        var run = await _client.TriggerRunAsync(new TriggerRunRequest { DagId = dagId });
        await fixture.Host.WaitForRunEndAsync(dagId, run.RunId);
        return run;
    }

    [Fact]
    public async Task GetRun_WhileItsGrainStaysUnreachable_FailsWithUnavailableAndRetryAfterTrailers()
    {
        var dagId = HostFixture.NewDagId("grpc-fo");
        var run = await FinishedRunAsync(dagId);
        using var armed = fixture.Faults.Arm($"{dagId}/{run.RunId}", "GetAsync", () => new SiloUnavailableException("the silo is unavailable"));

        var error = await Assert.ThrowsAsync<RpcException>(() => _client.GetRunAsync(new GetRunRequest { DagId = dagId, RunId = run.RunId }).ResponseAsync);

        Assert.Equal(StatusCode.Unavailable, error.StatusCode);
        Assert.Equal("2", error.Trailers.GetValue("retry-after"));
        Assert.Equal("2000", error.Trailers.GetValue("grpc-retry-pushback-ms"));
        Assert.True(fixture.Faults.Thrown($"{dagId}/{run.RunId}", "GetAsync") > 1, "the read should have been tried again first");
    }

    [Fact]
    public async Task WatchRun_WhileItsGrainStaysUnreachable_EndsTheStreamWithUnavailable()
    {
        var dagId = HostFixture.NewDagId("grpc-fo-watch");
        var run = await FinishedRunAsync(dagId);
        using var armed = fixture.Faults.Arm($"{dagId}/{run.RunId}", "GetAsync", () => new TimeoutException("Response did not arrive on time"));

        using var watch = _client.WatchRun(new WatchRunRequest { DagId = dagId, RunId = run.RunId }, deadline: DateTime.UtcNow.AddSeconds(30));
        var error = await Assert.ThrowsAsync<RpcException>(() => watch.ResponseStream.MoveNext(CancellationToken.None));

        Assert.Equal(StatusCode.Unavailable, error.StatusCode);
    }

    [Fact]
    public async Task GetRun_WhenTheFaultPassesWithinTheRetries_Answers()
    {
        var dagId = HostFixture.NewDagId("grpc-fo-blip");
        var run = await FinishedRunAsync(dagId);
        using var armed = fixture.Faults.Arm($"{dagId}/{run.RunId}", "GetAsync", () => new SiloUnavailableException("the silo is unavailable"), times: 1);

        var read = await _client.GetRunAsync(new GetRunRequest { DagId = dagId, RunId = run.RunId });

        Assert.Equal("succeeded", read.State);
        Assert.Equal(1, fixture.Faults.Thrown($"{dagId}/{run.RunId}", "GetAsync"));
    }
}
