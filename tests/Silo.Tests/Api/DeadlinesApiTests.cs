using System.Net.Http.Json;
using System.Text.Json;
using Batchyard.V1;

namespace Batchyard.Tests.Api;

/// <summary>A run past its deadline shows <c>late</c> in the run's details, in run lists, on its task, and over gRPC.</summary>
[Collection(HostCollection.Name)]
public sealed class DeadlinesApiTests(HostFixture fixture)
{
    [Fact]
    public async Task ARunPastItsDeadline_IsLateInItsDetailsAndInRunLists_OverHttpAndGrpc_AndStillRunsToItsEnd()
    {
        var dagId = HostFixture.NewDagId("late");
        var release = Path.Combine(fixture.Host.DagsFolder, dagId + ".release");
        var yaml = $$"""
            id: {{dagId}}
            deadline: { within: 500ms, after: queued }
            tasks:
              slow:
                backend: local
                deadline: 1s
                command: [sh, -c, 'for i in $(seq 1 600); do [ -f "{{release}}" ] && break; sleep 0.1; done']
            """;
        using var http = fixture.Host.Http();
        (await http.PutAsync($"/api/v1/dags/{dagId}", new StringContent(yaml))).EnsureSuccessStatusCode();
        using var triggered = await http.PostAsJsonAsync($"/api/v1/dags/{dagId}/runs", new { });
        var queued = await triggered.Content.ReadFromJsonAsync<JsonElement>();
        var runId = queued.GetProperty("runId").GetString()!;
        Assert.False(queued.GetProperty("late").GetBoolean());

        var late = await fixture.Host.WaitForRunAsync(dagId, runId, r => r.GetProperty("late").GetBoolean() && r.GetProperty("tasks")[0].GetProperty("late").GetBoolean());
        Assert.Equal("running", late.GetProperty("state").GetString());
        var listed = (await http.GetFromJsonAsync<JsonElement[]>($"/api/v1/dags/{dagId}/runs"))!;
        Assert.True(Assert.Single(listed).GetProperty("late").GetBoolean());

        var grpc = fixture.Grpc();
        var run = await grpc.GetRunAsync(new GetRunRequest { DagId = dagId, RunId = runId });
        Assert.True(run.Late);
        Assert.True(run.Tasks[0].Late);
        Assert.True(Assert.Single((await grpc.ListRunsAsync(new ListRunsRequest { DagId = dagId })).Runs).Late);

        await File.WriteAllTextAsync(release, "");
        var done = await fixture.Host.WaitForRunAsync(dagId, runId, r => r.GetProperty("state").GetString() == "succeeded");
        Assert.True(done.GetProperty("late").GetBoolean());
    }

    [Fact]
    public async Task ARunThatEndsInTime_IsNotLate()
    {
        var dagId = HostFixture.NewDagId("in-time");
        using var http = fixture.Host.Http();
        (await http.PutAsync($"/api/v1/dags/{dagId}", new StringContent($"id: {dagId}\ndeadline: {{ within: 1h }}\ntasks:\n  only:\n    backend: noop\n    deadline: 1h\n"))).EnsureSuccessStatusCode();
        using var triggered = await http.PostAsJsonAsync($"/api/v1/dags/{dagId}/runs", new { });
        var runId = (await triggered.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("runId").GetString()!;
        var done = await fixture.Host.WaitForRunAsync(dagId, runId, r => r.GetProperty("state").GetString() == "succeeded");
        Assert.False(done.GetProperty("late").GetBoolean());
        Assert.False(done.GetProperty("tasks")[0].GetProperty("late").GetBoolean());
        Assert.False(Assert.Single((await http.GetFromJsonAsync<JsonElement[]>($"/api/v1/dags/{dagId}/runs"))!).GetProperty("late").GetBoolean());
    }
}
