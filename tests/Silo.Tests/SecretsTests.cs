using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Batchyard.V1;
using Grpc.Core;

namespace Batchyard.Tests;

/// <summary><c>secret:NAME</c> env values: resolved for the job, never in a response, an attempt log or a server log line.</summary>
[Collection(HostCollection.Name)]
public sealed class SecretsTests(HostFixture fixture)
{
    private static string SecretDag(string dagId) => $$"""
        id: {{dagId}}
        tasks:
          deploy:
            backend: local
            env: { API_TOKEN: "secret:deploy_token", STAGE: prod }
            command: [sh, -c, 'echo "token=$API_TOKEN stage=$STAGE"; echo "$API_TOKEN" >&2']
        """;

    [Fact]
    public async Task SecretEnv_ReachesTheJob_ButNoResponseOrLogShowsIt()
    {
        var dagId = HostFixture.NewDagId("secret");
        await fixture.Host.ApplyAsync(dagId, SecretDag(dagId));
        var runId = await fixture.Host.TriggerAsync(dagId);
        var run = await fixture.Host.WaitForRunEndAsync(dagId, runId);
        Assert.Equal("succeeded", run.GetProperty("state").GetString());

        using var http = fixture.Host.Http();
        var logs = await http.GetFromJsonAsync<JsonElement>($"/api/v1/dags/{dagId}/runs/{runId}/tasks/deploy/logs");
        var text = logs.GetProperty("text").GetString()!;
        // The job saw the value (it printed something in its place), and the log holds only the mask.
        Assert.Contains("token=*** stage=prod", text, StringComparison.Ordinal);

        var responses = new List<string>
        {
            text,
            await http.GetStringAsync($"/api/v1/dags/{dagId}"),
            await http.GetStringAsync("/api/v1/dags"),
            await http.GetStringAsync($"/api/v1/dags/{dagId}/runs"),
            await http.GetStringAsync($"/api/v1/dags/{dagId}/runs/{runId}"),
        };
        var grpc = fixture.Grpc();
        responses.Add((await grpc.GetDagAsync(new GetDagRequest { DagId = dagId })).ToString());
        responses.Add((await grpc.GetRunAsync(new GetRunRequest { DagId = dagId, RunId = runId })).ToString());
        using var stream = grpc.StreamTaskLog(new StreamTaskLogRequest { DagId = dagId, RunId = runId, TaskId = "deploy" });
        responses.AddRange((await stream.ResponseStream.ReadAllAsync().ToListAsync()).Select(c => c.ToString()));

        Assert.All(responses, r => Assert.DoesNotContain(HostFixture.SecretValue, r, StringComparison.Ordinal));
        Assert.Contains("secret:deploy_token", responses[1], StringComparison.Ordinal);
        Assert.DoesNotContain(fixture.Host.Logs.Lines, line => line.Contains(HostFixture.SecretValue, StringComparison.Ordinal));
    }

    [Fact]
    public async Task MissingSecret_FailsTheAttemptWithoutRetry()
    {
        var dagId = HostFixture.NewDagId("secret-missing");
        await fixture.Host.ApplyAsync(dagId, $$"""
            id: {{dagId}}
            tasks:
              deploy:
                backend: local
                retries: 3
                retry_delay: 1s
                env: { API_TOKEN: "secret:no_such_secret" }
                command: [sh, -c, 'echo should not run']
            """);

        var runId = await fixture.Host.TriggerAsync(dagId);
        var run = await fixture.Host.WaitForRunEndAsync(dagId, runId);

        Assert.Equal("failed", run.GetProperty("state").GetString());
        var task = run.GetProperty("tasks")[0];
        Assert.Equal("failed", task.GetProperty("state").GetString());
        var attempt = Assert.Single(task.GetProperty("attempts").EnumerateArray());
        Assert.Contains("secret 'no_such_secret' is not configured", attempt.GetProperty("reason").GetString(), StringComparison.Ordinal);
    }
}
