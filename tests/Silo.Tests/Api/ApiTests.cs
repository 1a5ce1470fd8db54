using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace Batchyard.Tests.Api;

/// <summary>The HTTP API of a running host, over real HTTP.</summary>
public sealed class ApiTests : IAsyncLifetime
{
    private const string Pipeline = """
        id: pipeline
        schedule: "0 3 * * *"
        timezone: Asia/Tokyo
        params: { who: world }
        flow: extract >> [train, evaluate] >> publish
        defaults: { backend: local, resources: { memory_mb: 64 } }
        tasks:
          extract:
            command: [sh, -c, 'echo "hello {{ params.who }} from {{ task_id }} attempt {{ attempt }}"']
          train:
            command: [sh, -c, 'echo training']
          evaluate:
            command: [sh, -c, 'echo evaluating']
          publish:
            backend: noop
        """;

    private BatchyardTestHost _host = null!;
    private HttpClient _http = null!;

    private HttpClient Http => _http;

    public async Task InitializeAsync()
    {
        _host = await BatchyardTestHost.StartAsync(
            new Dictionary<string, string?> { ["Batchyard:Pools:gpu"] = "2", ["Batchyard:Quotas:ml.g5.xlarge"] = "4" },
            new Dictionary<string, string> { ["pipeline.yaml"] = Pipeline });
        _http = _host.Http(key: null);
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _host.DisposeAsync();
    }

    private static async Task<JsonElement> JsonOf(HttpResponseMessage response) =>
        (await JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync())).RootElement.Clone();

    private async Task<JsonElement> WaitForRunAsync(string dagId, string runId, Func<JsonElement, bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        JsonElement run;
        do
        {
            run = await JsonOf(await Http.GetAsync(new Uri($"/api/v1/dags/{dagId}/runs/{runId}", UriKind.Relative)));
            if (condition(run))
            {
                return run;
            }
            await Task.Delay(50);
        }
        while (DateTime.UtcNow < deadline);
        throw new TimeoutException("run did not reach the expected state: " + run);
    }

    private static StringContent Yaml(string text) => new(text, Encoding.UTF8, "application/yaml");

    [Fact]
    public async Task ListDags_ShowsTheFolderDag_WithScheduleAndNextRunInUtc()
    {
        var dags = await JsonOf(await Http.GetAsync(new Uri("/api/v1/dags", UriKind.Relative)));
        var dag = dags.EnumerateArray().Single(d => d.GetProperty("dagId").GetString() == "pipeline");
        Assert.False(dag.GetProperty("paused").GetBoolean());
        Assert.Equal("0 3 * * *", dag.GetProperty("schedule").GetString());
        Assert.Equal("Asia/Tokyo", dag.GetProperty("timezone").GetString());
        var next = dag.GetProperty("nextRunAt").GetString()!;
        Assert.EndsWith(":00:00.000Z", next, StringComparison.Ordinal);
        Assert.Equal(18, DateTimeOffset.Parse(next, System.Globalization.CultureInfo.InvariantCulture).UtcDateTime.Hour);
        Assert.Equal(JsonValueKind.Null, dag.GetProperty("lastRunState").ValueKind);
    }

    [Fact]
    public async Task GetDag_HasTasksEdgesAndSource()
    {
        var dag = await JsonOf(await Http.GetAsync(new Uri("/api/v1/dags/pipeline", UriKind.Relative)));
        Assert.Equal(["extract", "train", "evaluate", "publish"], dag.GetProperty("tasks").EnumerateArray().Select(t => t.GetProperty("taskId").GetString()));
        var edges = dag.GetProperty("edges").EnumerateArray().Select(e => $"{e.GetProperty("from").GetString()}>{e.GetProperty("to").GetString()}").Order();
        Assert.Equal(["evaluate>publish", "extract>evaluate", "extract>train", "train>publish"], edges);
        Assert.Contains("flow: extract >> [train, evaluate] >> publish", dag.GetProperty("source").GetString(), StringComparison.Ordinal);
        Assert.Equal(5, dag.GetProperty("nextRuns").GetArrayLength());
    }

    [Fact]
    public async Task TriggerRun_Returns202_RunsToSuccess_AndTheLogHasTheRenderedTemplate()
    {
        var response = await Http.PostAsJsonAsync(new Uri("/api/v1/dags/pipeline/runs", UriKind.Relative), new { @params = new { who = "tests" } });
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var runId = (await JsonOf(response)).GetProperty("runId").GetString()!;
        Assert.Equal($"/api/v1/dags/pipeline/runs/{runId}", response.Headers.Location!.OriginalString);

        var run = await WaitForRunAsync("pipeline", runId, r => r.GetProperty("state").GetString() is "succeeded" or "failed");
        Assert.Equal("succeeded", run.GetProperty("state").GetString());
        var extract = run.GetProperty("tasks").EnumerateArray().First();
        var attempt = extract.GetProperty("attempts")[0];
        Assert.Equal(1, attempt.GetProperty("attempt").GetInt32());
        Assert.Equal(0, attempt.GetProperty("exitCode").GetInt32());
        Assert.False(string.IsNullOrEmpty(attempt.GetProperty("jobId").GetString()));

        var log = await JsonOf(await Http.GetAsync(new Uri($"/api/v1/dags/pipeline/runs/{runId}/tasks/extract/logs", UriKind.Relative)));
        Assert.Equal("hello tests from extract attempt 1\n", log.GetProperty("text").GetString());
        Assert.True(log.GetProperty("complete").GetBoolean());
        var cursor = log.GetProperty("cursor").GetString();
        var rest = await JsonOf(await Http.GetAsync(new Uri($"/api/v1/dags/pipeline/runs/{runId}/tasks/extract/logs?attempt=1&cursor={cursor}", UriKind.Relative)));
        Assert.Equal("", rest.GetProperty("text").GetString());
        Assert.Equal(cursor, rest.GetProperty("cursor").GetString());

        var runs = await JsonOf(await Http.GetAsync(new Uri("/api/v1/dags/pipeline/runs?state=succeeded&limit=5", UriKind.Relative)));
        Assert.Contains(runs.EnumerateArray(), r => r.GetProperty("runId").GetString() == runId);
        var dags = await JsonOf(await Http.GetAsync(new Uri("/api/v1/dags", UriKind.Relative)));
        Assert.Equal("succeeded", dags.EnumerateArray().Single(d => d.GetProperty("dagId").GetString() == "pipeline").GetProperty("lastRunState").GetString());
    }

    [Fact]
    public async Task PutDag_Invalid_Gives400ProblemWithEveryProblem_AndKeepsTheLastGoodVersion()
    {
        const string broken = """
            id: pipeline
            schedule: "61 * * * *"
            tasks:
              a: { backend: noop, depends_on: b }
              b: { backend: noop, depends_on: a, retry_delay: soon }
            """;
        var response = await Http.PutAsync(new Uri("/api/v1/dags/pipeline", UriKind.Relative), Yaml(broken));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType!.MediaType);
        var problem = await JsonOf(response);
        Assert.Equal("Invalid DAG", problem.GetProperty("title").GetString());
        var errors = problem.GetProperty("errors").EnumerateArray().Select(e => e.GetString()!).ToList();
        Assert.Contains(errors, e => e.StartsWith("pipeline.yaml:2: ", StringComparison.Ordinal) && e.Contains("cron", StringComparison.OrdinalIgnoreCase));
        Assert.Contains(errors, e => e.Contains("cycle: a -> b -> a", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("pipeline.yaml:5: ", StringComparison.Ordinal) && e.Contains("soon", StringComparison.Ordinal));

        var dag = await JsonOf(await Http.GetAsync(new Uri("/api/v1/dags/pipeline", UriKind.Relative)));
        Assert.Equal(4, dag.GetProperty("tasks").GetArrayLength());
    }

    [Fact]
    public async Task PutDag_NewYamlAndJson_Creates201ThenReplaces200()
    {
        var created = await Http.PutAsync(new Uri("/api/v1/dags/from-api", UriKind.Relative), Yaml("tasks:\n  only: { backend: noop }\n"));
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        Assert.Equal("from-api", (await JsonOf(created)).GetProperty("dagId").GetString());

        var json = new StringContent("""{ "tasks": { "one": { "backend": "noop" }, "two": { "backend": "noop", "depends_on": "one" } } }""", Encoding.UTF8, "application/json");
        var replaced = await Http.PutAsync(new Uri("/api/v1/dags/from-api", UriKind.Relative), json);
        Assert.Equal(HttpStatusCode.OK, replaced.StatusCode);
        Assert.Equal(2, (await JsonOf(replaced)).GetProperty("tasks").GetArrayLength());

        var mismatch = await Http.PutAsync(new Uri("/api/v1/dags/from-api", UriKind.Relative), Yaml("id: other\ntasks:\n  x: { backend: noop }\n"));
        Assert.Equal(HttpStatusCode.BadRequest, mismatch.StatusCode);
    }

    [Fact]
    public async Task PauseUnpauseDelete_ChangeTheDag_AndUnknownDagsAre404()
    {
        await Http.PutAsync(new Uri("/api/v1/dags/short-lived", UriKind.Relative), Yaml("schedule: '@hourly'\ntasks:\n  t: { backend: noop }\n"));
        var paused = await JsonOf(await Http.PostAsync(new Uri("/api/v1/dags/short-lived/pause", UriKind.Relative), null));
        Assert.True(paused.GetProperty("paused").GetBoolean());
        Assert.Equal(JsonValueKind.Null, paused.GetProperty("nextRunAt").ValueKind);
        var unpaused = await JsonOf(await Http.PostAsync(new Uri("/api/v1/dags/short-lived/unpause", UriKind.Relative), null));
        Assert.False(unpaused.GetProperty("paused").GetBoolean());

        var run = await JsonOf(await Http.PostAsync(new Uri("/api/v1/dags/short-lived/runs", UriKind.Relative), null));
        var runId = run.GetProperty("runId").GetString();
        await WaitForRunAsync("short-lived", runId!, r => r.GetProperty("state").GetString() == "succeeded");

        Assert.Equal(HttpStatusCode.NoContent, (await Http.DeleteAsync(new Uri("/api/v1/dags/short-lived", UriKind.Relative))).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await Http.GetAsync(new Uri("/api/v1/dags/short-lived", UriKind.Relative))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await Http.GetAsync(new Uri($"/api/v1/dags/short-lived/runs/{runId}", UriKind.Relative))).StatusCode);

        foreach (var (method, path) in new[] { ("GET", "/api/v1/dags/nope"), ("POST", "/api/v1/dags/nope/pause"), ("POST", "/api/v1/dags/nope/runs"), ("GET", "/api/v1/dags/pipeline/runs/nope"), ("DELETE", "/api/v1/dags/nope") })
        {
            var response = await Http.SendAsync(new HttpRequestMessage(new HttpMethod(method), new Uri(path, UriKind.Relative)));
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType!.MediaType);
        }
    }

    [Fact]
    public async Task CancelRunningRun_StopsTheJob_ThenCancelAgainIs409()
    {
        await Http.PutAsync(new Uri("/api/v1/dags/slow", UriKind.Relative), Yaml("tasks:\n  wait: { command: [sleep, '60'], resources: { memory_mb: 32 } }\n"));
        var runId = (await JsonOf(await Http.PostAsync(new Uri("/api/v1/dags/slow/runs", UriKind.Relative), null))).GetProperty("runId").GetString()!;
        await WaitForRunAsync("slow", runId, r => r.GetProperty("tasks")[0].GetProperty("state").GetString() == "running");

        var cancel = await Http.PostAsync(new Uri($"/api/v1/dags/slow/runs/{runId}/cancel", UriKind.Relative), null);
        Assert.Equal(HttpStatusCode.OK, cancel.StatusCode);
        Assert.Equal("cancelled", (await JsonOf(cancel)).GetProperty("state").GetString());

        var again = await Http.PostAsync(new Uri($"/api/v1/dags/slow/runs/{runId}/cancel", UriKind.Relative), null);
        Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);
        Assert.Equal("application/problem+json", again.Content.Headers.ContentType!.MediaType);
    }

    [Fact]
    public async Task ClearFailedTask_RerunsIt_AndAnUnknownTaskIs404()
    {
        var marker = Path.Combine(_host.Folder, "second-time");
        await Http.PutAsync(new Uri("/api/v1/dags/clearable", UriKind.Relative), Yaml($$"""
            tasks:
              flaky: { command: [sh, -c, 'if [ -f {{marker}} ]; then echo ok; else touch {{marker}}; exit 4; fi'], resources: { memory_mb: 32 } }
              after: { backend: noop, depends_on: flaky }
            """));
        var runId = (await JsonOf(await Http.PostAsync(new Uri("/api/v1/dags/clearable/runs", UriKind.Relative), null))).GetProperty("runId").GetString()!;
        var failed = await WaitForRunAsync("clearable", runId, r => r.GetProperty("state").GetString() == "failed");
        Assert.Equal("exit code 4", failed.GetProperty("tasks")[0].GetProperty("attempts")[0].GetProperty("reason").GetString());
        Assert.Equal("upstream_failed", failed.GetProperty("tasks")[1].GetProperty("state").GetString());

        var missing = await Http.PostAsync(new Uri($"/api/v1/dags/clearable/runs/{runId}/tasks/nope/clear", UriKind.Relative), null);
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);

        var cleared = await Http.PostAsync(new Uri($"/api/v1/dags/clearable/runs/{runId}/tasks/flaky/clear", UriKind.Relative), null);
        Assert.Equal(HttpStatusCode.OK, cleared.StatusCode);
        var done = await WaitForRunAsync("clearable", runId, r => r.GetProperty("state").GetString() == "succeeded");
        Assert.Equal(2, done.GetProperty("tasks")[0].GetProperty("attempts").GetArrayLength());
        Assert.Equal("succeeded", done.GetProperty("tasks")[1].GetProperty("state").GetString());
    }

    [Fact]
    public async Task MappedTaskWithOutputs_OverHttp_EntriesOutputsLogsAndClearByMapIndex()
    {
        await Http.PutAsync(new Uri("/api/v1/dags/mapped-api", UriKind.Relative), Yaml("""
            defaults: { backend: local, resources: { memory_mb: 32 } }
            tasks:
              list:
                command: [sh, -c, 'printf "{\"shards\": [\"a\", \"b\", \"c\"]}" > "$BATCHYARD_OUTPUT"']
              score:
                depends_on: [list]
                map: { over: "{{ tasks.list.output.shards }}", max_active: 2 }
                command: [sh, -c, 'echo "scoring {{ item }}"; printf "{\"shard\": \"{{ item }}\", \"i\": {{ map_index }}}" > "$BATCHYARD_OUTPUT"']
              publish:
                depends_on: [score]
                when: "{{ tasks.score.output.2.i }} == 2"
                command: [sh, -c, 'echo "publishing $1"', sh, "{{ tasks.score.output }}"]
            """));
        var runId = (await JsonOf(await Http.PostAsync(new Uri("/api/v1/dags/mapped-api/runs", UriKind.Relative), null))).GetProperty("runId").GetString()!;
        var done = await WaitForRunAsync("mapped-api", runId, r => r.GetProperty("state").GetString() is "succeeded" or "failed");
        Assert.Equal("succeeded", done.GetProperty("state").GetString());

        var entries = done.GetProperty("tasks").EnumerateArray().Select(t => (Id: t.GetProperty("taskId").GetString(), Index: t.TryGetProperty("mapIndex", out var i) && i.ValueKind == JsonValueKind.Number ? i.GetInt32() : (int?)null)).ToList();
        Assert.Equal([("list", null), ("score", null), ("score", 0), ("score", 1), ("score", 2), ("publish", null)], entries);
        Assert.Equal(3, done.GetProperty("tasks")[1].GetProperty("mapCount").GetInt32());
        // The output is JSON on the attempt, not a string holding JSON.
        Assert.Equal(JsonValueKind.Object, done.GetProperty("tasks")[3].GetProperty("attempts")[0].GetProperty("output").ValueKind);

        var base_ = $"/api/v1/dags/mapped-api/runs/{runId}/tasks";
        Assert.Equal("""{"shard":"b","i":1}""", await Http.GetStringAsync(new Uri($"{base_}/score/output?map_index=1", UriKind.Relative)));
        Assert.Equal("""[{"shard":"a","i":0},{"shard":"b","i":1},{"shard":"c","i":2}]""", await Http.GetStringAsync(new Uri($"{base_}/score/output", UriKind.Relative)));
        var log = await JsonOf(await Http.GetAsync(new Uri($"{base_}/score/logs?map_index=2", UriKind.Relative)));
        Assert.Equal("scoring c\n", log.GetProperty("text").GetString());
        var publishLog = await JsonOf(await Http.GetAsync(new Uri($"{base_}/publish/logs", UriKind.Relative)));
        Assert.Contains("publishing [{\"shard\":\"a\"", publishLog.GetProperty("text").GetString());

        var noInstance = await Http.GetAsync(new Uri($"{base_}/score/output?map_index=7", UriKind.Relative));
        Assert.Equal(HttpStatusCode.NotFound, noInstance.StatusCode);
        Assert.Equal("application/problem+json", noInstance.Content.Headers.ContentType?.MediaType);
        Assert.Contains("3 instances", (await JsonOf(noInstance)).GetProperty("detail").GetString());
        var parentLog = await Http.GetAsync(new Uri($"{base_}/score/logs", UriKind.Relative));
        Assert.Equal(HttpStatusCode.NotFound, parentLog.StatusCode);

        var cleared = await Http.PostAsync(new Uri($"{base_}/score/clear?map_index=0", UriKind.Relative), null);
        Assert.Equal(HttpStatusCode.OK, cleared.StatusCode);
        var again = await WaitForRunAsync("mapped-api", runId, r => r.GetProperty("state").GetString() == "succeeded"
            && r.GetProperty("tasks")[2].GetProperty("attempts").GetArrayLength() == 2);
        Assert.Equal(1, again.GetProperty("tasks")[3].GetProperty("attempts").GetArrayLength());
        Assert.Equal(2, again.GetProperty("tasks")[5].GetProperty("attempts").GetArrayLength());
    }

    [Fact]
    public async Task BadRequests_GetProblemJson()
    {
        var badBody = await Http.PostAsync(new Uri("/api/v1/dags/pipeline/runs", UriKind.Relative), new StringContent("{\"params\": 3}", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, badBody.StatusCode);
        Assert.Equal("application/problem+json", badBody.Content.Headers.ContentType!.MediaType);

        var badState = await Http.GetAsync(new Uri("/api/v1/dags/pipeline/runs?state=sleeping", UriKind.Relative));
        Assert.Equal(HttpStatusCode.BadRequest, badState.StatusCode);

        foreach (var unbindable in new[] { "/api/v1/dags/pipeline/runs?before=garbage", "/api/v1/dags/pipeline/runs?limit=abc", "/api/v1/dags/pipeline/runs/x/tasks/y/logs?attempt=zz" })
        {
            var response = await Http.GetAsync(new Uri(unbindable, UriKind.Relative));
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType!.MediaType);
            var body = await JsonOf(response);
            Assert.True(body.TryGetProperty("detail", out var detail), body.ToString());
            Assert.Contains("Failed to bind parameter", detail.GetString(), StringComparison.Ordinal);
        }

        var unknownRoute = await Http.GetAsync(new Uri("/api/v1/nothing-here", UriKind.Relative));
        Assert.Equal(HttpStatusCode.NotFound, unknownRoute.StatusCode);
        Assert.Equal("application/problem+json", unknownRoute.Content.Headers.ContentType!.MediaType);
    }

    [Fact]
    public async Task Pools_ListsTheConfiguredPoolsWithTheirSlots()
    {
        var pools = await JsonOf(await Http.GetAsync(new Uri("/api/v1/pools", UriKind.Relative)));
        var gpu = pools.EnumerateArray().Single(p => p.GetProperty("name").GetString() == "gpu");
        Assert.Equal(2, gpu.GetProperty("slots").GetInt32());
        Assert.Equal(0, gpu.GetProperty("holders").GetArrayLength());
        Assert.Equal("pool", gpu.GetProperty("kind").GetString());
        var quota = pools.EnumerateArray().Single(p => p.GetProperty("name").GetString() == "quota:ml.g5.xlarge");
        Assert.Equal("quota", quota.GetProperty("kind").GetString());
        Assert.Equal(4, quota.GetProperty("slots").GetInt32());
        Assert.Equal(0, quota.GetProperty("inUse").GetInt32());
        Assert.Equal(0, quota.GetProperty("waiting").GetArrayLength());
        var other = await JsonOf(await Http.GetAsync(new Uri("/api/v1/pools/default", UriKind.Relative)));
        Assert.Equal(JsonValueKind.Null, other.GetProperty("slots").ValueKind);
    }

    [Fact]
    public async Task HealthAndOpenApi_Answer()
    {
        Assert.Equal(HttpStatusCode.OK, (await Http.GetAsync(new Uri("/healthz", UriKind.Relative))).StatusCode);
        var ready = await JsonOf(await Http.GetAsync(new Uri("/readyz", UriKind.Relative)));
        Assert.Equal("ready", ready.GetProperty("status").GetString());
        Assert.False(string.IsNullOrEmpty(ready.GetProperty("localIsolation").GetString()));
        var openApi = await JsonOf(await Http.GetAsync(new Uri("/openapi/v1.json", UriKind.Relative)));
        Assert.True(openApi.GetProperty("paths").TryGetProperty("/api/v1/dags/{dagId}/runs/{runId}/cancel", out _));
    }

    [Fact]
    public async Task Readyz_ListsEveryBackendAsItDescribesItself_AndKeepsTheLocalFieldsFromTheLocalBackend()
    {
        var ready = await JsonOf(await Http.GetAsync(new Uri("/readyz", UriKind.Relative)));

        var backends = ready.GetProperty("backends").EnumerateArray().ToDictionary(b => b.GetProperty("backend").GetString()!);
        Assert.Equal(["local", "noop", "sagemaker", "sagemaker-training"], backends.Keys.Order(StringComparer.Ordinal));
        Assert.All(backends.Values, b => Assert.Contains(b.GetProperty("status").GetString(), new[] { "ok", "degraded", "unavailable" }));
        Assert.All(backends.Values, b => Assert.False(string.IsNullOrEmpty(b.GetProperty("message").GetString())));
        var local = backends["local"];
        var isolation = local.GetProperty("facts").EnumerateArray().Single(f => f.GetProperty("name").GetString() == "isolation").GetProperty("value").GetString();
        Assert.Equal(isolation, ready.GetProperty("localIsolation").GetString());
        Assert.Equal(local.GetProperty("status").GetString() == "ok", ready.GetProperty("memoryIsolated").GetBoolean());
        Assert.Equal("ok", backends["noop"].GetProperty("status").GetString());
    }
}
