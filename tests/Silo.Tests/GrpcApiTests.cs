using Batchyard.V1;
using Grpc.Core;
using Grpc.Reflection.V1Alpha;

namespace Batchyard.Tests;

/// <summary>Each operation of the <c>batchyard.v1</c> gRPC service against the real host.</summary>
[Collection(HostCollection.Name)]
public sealed class GrpcApiTests(HostFixture fixture)
{
    private readonly BatchyardService.BatchyardServiceClient _client = fixture.Grpc();

    private async Task ApplyAsync(string dagId, string yaml)
    {
        var response = await _client.ApplyDagAsync(new ApplyDagRequest { DagId = dagId, Source = yaml });
        Assert.True(response.Created);
    }

    private async Task<Run> RunToEndAsync(string dagId)
    {
        var run = await _client.TriggerRunAsync(new TriggerRunRequest { DagId = dagId });
        using var watch = _client.WatchRun(new WatchRunRequest { DagId = dagId, RunId = run.RunId }, deadline: DateTime.UtcNow.AddSeconds(60));
        Run last = run;
        await foreach (var change in watch.ResponseStream.ReadAllAsync())
        {
            last = change;
        }
        return last;
    }

    [Fact]
    public async Task ApplyDag_ValidFile_CreatesTheDagAndGetDagReturnsIt()
    {
        var dagId = HostFixture.NewDagId("grpc-apply");
        await ApplyAsync(dagId, TestDags.Quick(dagId));

        var dag = await _client.GetDagAsync(new GetDagRequest { DagId = dagId });

        Assert.Equal(dagId, dag.DagId);
        Assert.Equal(["after", "hello"], dag.Tasks.Select(t => t.TaskId).Order());
        Assert.Contains(dag.Edges, e => e.From == "hello" && e.To == "after");
    }

    [Fact]
    public async Task ApplyDag_InvalidFile_FailsWithInvalidArgumentListingEveryProblem()
    {
        var dagId = HostFixture.NewDagId("grpc-bad");
        var yaml = $"""
            id: {dagId}
            schedule: "not a cron"
            tasks:
              a:
                backend: noop
                depends_on: b
              b:
                backend: noop
                depends_on: a
            """;

        var error = await Assert.ThrowsAsync<RpcException>(() => _client.ApplyDagAsync(new ApplyDagRequest { DagId = dagId, Source = yaml }).ResponseAsync);

        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        var problems = error.Status.Detail.Split('\n');
        Assert.True(problems.Length >= 2, error.Status.Detail);
        Assert.All(problems, p => Assert.Matches($@"^{dagId}\.yaml:\d+: ", p));
        Assert.Contains(problems, p => p.Contains("cycle", StringComparison.Ordinal));
        Assert.Equal(StatusCode.NotFound, (await Assert.ThrowsAsync<RpcException>(() => _client.GetDagAsync(new GetDagRequest { DagId = dagId }).ResponseAsync)).StatusCode);
    }

    [Fact]
    public async Task ListDags_AfterApply_ContainsTheDag()
    {
        var dagId = HostFixture.NewDagId("grpc-list");
        await ApplyAsync(dagId, TestDags.Quick(dagId));

        var list = await _client.ListDagsAsync(new ListDagsRequest());

        Assert.Contains(list.Dags, d => d.DagId == dagId && !d.Paused);
    }

    [Fact]
    public async Task DeleteDag_ExistingDag_RemovesIt()
    {
        var dagId = HostFixture.NewDagId("grpc-del");
        await ApplyAsync(dagId, TestDags.Quick(dagId));

        await _client.DeleteDagAsync(new DeleteDagRequest { DagId = dagId });

        var list = await _client.ListDagsAsync(new ListDagsRequest());
        Assert.DoesNotContain(list.Dags, d => d.DagId == dagId);
        Assert.Equal(StatusCode.NotFound, (await Assert.ThrowsAsync<RpcException>(() => _client.DeleteDagAsync(new DeleteDagRequest { DagId = dagId }).ResponseAsync)).StatusCode);
    }

    [Fact]
    public async Task PauseDag_ThenUnpauseDag_FlipsPaused()
    {
        var dagId = HostFixture.NewDagId("grpc-pause");
        await ApplyAsync(dagId, TestDags.Quick(dagId));

        var paused = await _client.PauseDagAsync(new PauseDagRequest { DagId = dagId });
        var pausedView = await _client.GetDagAsync(new GetDagRequest { DagId = dagId });
        var unpaused = await _client.UnpauseDagAsync(new UnpauseDagRequest { DagId = dagId });

        Assert.True(paused.Paused);
        Assert.True(pausedView.Paused);
        Assert.False(unpaused.Paused);
    }

    [Fact]
    public async Task TriggerRun_WithParams_StartsARunThatWatchRunFollowsToSuccess()
    {
        var dagId = HostFixture.NewDagId("grpc-trigger");
        var release = Path.Combine(Path.GetTempPath(), dagId + ".release");
        await ApplyAsync(dagId, TestDags.Slow(dagId, release));

        var run = await _client.TriggerRunAsync(new TriggerRunRequest { DagId = dagId, Params = { ["sample_rate"] = "0.5" } });
        var states = new List<string>();
        using var watch = _client.WatchRun(new WatchRunRequest { DagId = dagId, RunId = run.RunId }, deadline: DateTime.UtcNow.AddSeconds(60));
        await foreach (var change in watch.ResponseStream.ReadAllAsync())
        {
            states.Add(change.State);
            if (change.State == "running" && change.Tasks.Any(t => t.State == "running"))
            {
                // Seen running: let the task end, and the stream must follow the run to its end.
                await File.WriteAllTextAsync(release, "go");
            }
        }
        File.Delete(release);

        Assert.Equal("0.5", run.Params["sample_rate"]);
        Assert.Contains("running", states);
        Assert.Equal("succeeded", states[^1]);
    }

    [Fact]
    public async Task ListRuns_AfterTwoRuns_ListsBothNewestFirst()
    {
        var dagId = HostFixture.NewDagId("grpc-runs");
        await ApplyAsync(dagId, TestDags.Quick(dagId));
        var first = await RunToEndAsync(dagId);
        var second = await RunToEndAsync(dagId);

        var runs = await _client.ListRunsAsync(new ListRunsRequest { DagId = dagId, State = "succeeded" });

        Assert.Equal([second.RunId, first.RunId], runs.Runs.Select(r => r.RunId));
        Assert.Equal(StatusCode.InvalidArgument, (await Assert.ThrowsAsync<RpcException>(() => _client.ListRunsAsync(new ListRunsRequest { DagId = dagId, State = "nonsense" }).ResponseAsync)).StatusCode);
    }

    [Fact]
    public async Task GetRun_FinishedRun_HasEveryTaskAndAttempt()
    {
        var dagId = HostFixture.NewDagId("grpc-getrun");
        await ApplyAsync(dagId, TestDags.Failing(dagId));
        var ended = await RunToEndAsync(dagId);

        var run = await _client.GetRunAsync(new GetRunRequest { DagId = dagId, RunId = ended.RunId });

        Assert.Equal("failed", run.State);
        var attempt = Assert.Single(Assert.Single(run.Tasks).Attempts);
        Assert.Equal("failed", attempt.State);
        Assert.Equal(3, attempt.ExitCode);
        Assert.Equal(StatusCode.NotFound, (await Assert.ThrowsAsync<RpcException>(() => _client.GetRunAsync(new GetRunRequest { DagId = dagId, RunId = "no-such-run" }).ResponseAsync)).StatusCode);
    }

    [Fact]
    public async Task CancelRun_RunningRun_EndsItCancelled()
    {
        var dagId = HostFixture.NewDagId("grpc-cancel");
        await ApplyAsync(dagId, TestDags.Slow(dagId, Path.Combine(fixture.Host.Folder, "never")));
        var run = await _client.TriggerRunAsync(new TriggerRunRequest { DagId = dagId });
        await fixture.Host.WaitForRunAsync(dagId, run.RunId, r => r.GetProperty("tasks")[0].GetProperty("state").GetString() == "running");

        var cancelled = await _client.CancelRunAsync(new CancelRunRequest { DagId = dagId, RunId = run.RunId });

        Assert.Equal("cancelled", cancelled.State);
        Assert.Equal(StatusCode.FailedPrecondition, (await Assert.ThrowsAsync<RpcException>(() => _client.CancelRunAsync(new CancelRunRequest { DagId = dagId, RunId = run.RunId }).ResponseAsync)).StatusCode);
    }

    [Fact]
    public async Task ClearTask_FailedTask_RunsItAgain()
    {
        var dagId = HostFixture.NewDagId("grpc-clear");
        await ApplyAsync(dagId, TestDags.Failing(dagId));
        var ended = await RunToEndAsync(dagId);

        await _client.ClearTaskAsync(new ClearTaskRequest { DagId = dagId, RunId = ended.RunId, TaskId = "broken" });
        var rerun = await fixture.Host.WaitForRunAsync(dagId, ended.RunId,
            r => r.GetProperty("tasks")[0].GetProperty("attempts").GetArrayLength() == 2 && r.GetProperty("state").GetString() == "failed");

        Assert.Equal(2, rerun.GetProperty("tasks")[0].GetProperty("attempts").GetArrayLength());
    }

    [Fact]
    public async Task StreamTaskLog_Follow_SendsTheOutputUntilTheAttemptEnds()
    {
        var dagId = HostFixture.NewDagId("grpc-logs");
        var release = Path.Combine(fixture.Host.Folder, dagId + ".release");
        await ApplyAsync(dagId, TestDags.Slow(dagId, release));
        var run = await _client.TriggerRunAsync(new TriggerRunRequest { DagId = dagId });
        await fixture.Host.WaitForRunAsync(dagId, run.RunId, r => r.GetProperty("tasks")[0].GetProperty("state").GetString() == "running");

        using var stream = _client.StreamTaskLog(new StreamTaskLogRequest { DagId = dagId, RunId = run.RunId, TaskId = "slow", Follow = true }, deadline: DateTime.UtcNow.AddSeconds(60));
        var text = "";
        LogChunk? last = null;
        await foreach (var chunk in stream.ResponseStream.ReadAllAsync())
        {
            text += chunk.Text;
            last = chunk;
            if (text.Contains("started", StringComparison.Ordinal) && !File.Exists(release))
            {
                // Only now let the job end: what follows must arrive on the open stream.
                await File.WriteAllTextAsync(release, "");
            }
        }

        Assert.Equal("started\nreleased\n", text);
        Assert.True(last!.Complete);
        Assert.Equal(1, last.Attempt);
    }

    [Fact]
    public async Task StreamTaskLog_Follow_GoesOnThroughRetries_EachChunkNamingItsAttempt()
    {
        var dagId = HostFixture.NewDagId("grpc-logs-retry");
        var marker = Path.Combine(fixture.Host.Folder, dagId + ".tried");
        await ApplyAsync(dagId, TestDags.FailsOnce(dagId, marker, "first", "second"));
        var run = await _client.TriggerRunAsync(new TriggerRunRequest { DagId = dagId });

        using var stream = _client.StreamTaskLog(new StreamTaskLogRequest { DagId = dagId, RunId = run.RunId, TaskId = "flaky", Follow = true }, deadline: DateTime.UtcNow.AddSeconds(60));
        var chunks = await stream.ResponseStream.ReadAllAsync().ToListAsync();

        Assert.Equal("first\n", string.Concat(chunks.Where(c => c.Attempt == 1).Select(c => c.Text)));
        Assert.Equal("second\n", string.Concat(chunks.Where(c => c.Attempt == 2).Select(c => c.Text)));
        Assert.True(chunks[^1].Complete);
        Assert.Equal(2, chunks[^1].Attempt);
    }

    [Fact]
    public async Task StreamTaskLog_WithoutFollow_SendsWhatIsWrittenAndEnds()
    {
        var dagId = HostFixture.NewDagId("grpc-logs-once");
        await ApplyAsync(dagId, TestDags.Failing(dagId));
        var ended = await RunToEndAsync(dagId);

        using var stream = _client.StreamTaskLog(new StreamTaskLogRequest { DagId = dagId, RunId = ended.RunId, TaskId = "broken" });
        var chunks = await stream.ResponseStream.ReadAllAsync().ToListAsync();

        Assert.Equal("about to fail\n", string.Concat(chunks.Select(c => c.Text)));
        Assert.True(chunks[^1].Complete);
    }

    [Fact]
    public async Task Reflection_ListsTheBatchyardService()
    {
        var reflection = new ServerReflection.ServerReflectionClient(fixture.Channel());
        using var call = reflection.ServerReflectionInfo();

        await call.RequestStream.WriteAsync(new ServerReflectionRequest { ListServices = "" });
        await call.RequestStream.CompleteAsync();
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));

        Assert.Contains(call.ResponseStream.Current.ListServicesResponse.Service, s => s.Name == "batchyard.v1.BatchyardService");
    }
}
