using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Batchyard.Tests.Security;
using static Batchyard.Tests.Security.RolesFixture;

namespace Batchyard.Tests.Api;

/// <summary><c>/api/v1/datasets</c>: an external event starts the consuming DAG's dataset run, and the lists show it.</summary>
public sealed class DatasetsApiTests(RolesFixture fixture) : IClassFixture<RolesFixture>
{
    [Fact]
    public async Task ExternalEvent_StartsTheConsumer_AndIsListedAndAudited()
    {
        var dagId = HostFixture.NewDagId("ds-consumer");
        var dataset = "ext-" + dagId;
        using var admin = fixture.Host.Http(Admin);
        using var ci = fixture.Host.Http(Operator);
        using var wall = fixture.Host.Http(Viewer);
        var yaml = $"id: {dagId}\non_datasets: [{dataset}]\ntasks:\n  only:\n    backend: noop\n";
        (await admin.PutAsync($"/api/v1/dags/{dagId}", new StringContent(yaml))).EnsureSuccessStatusCode();
        var dag = await admin.GetFromJsonAsync<JsonElement>($"/api/v1/dags/{dagId}");
        Assert.Contains(dataset, Assert.Single(dag.GetProperty("warnings").EnumerateArray()).GetString(), StringComparison.Ordinal);

        Assert.Equal(HttpStatusCode.Forbidden, (await wall.PostAsJsonAsync($"/api/v1/datasets/{dataset}/events", new { })).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await ci.PostAsJsonAsync($"/api/v1/datasets/{dataset}/events", new { extra = 3 })).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await ci.PostAsJsonAsync("/api/v1/datasets/Bad%20Name/events", new { })).StatusCode);
        using var posted = await ci.PostAsJsonAsync($"/api/v1/datasets/{dataset}/events", new { extra = new { file = "s3://bucket/a.csv" } });
        Assert.Equal(HttpStatusCode.Created, posted.StatusCode);
        var update = await posted.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(1, update.GetProperty("seq").GetInt64());
        Assert.Equal("s3://bucket/a.csv", update.GetProperty("source").GetProperty("extra").GetProperty("file").GetString());

        var runId = await WaitForDatasetRunAsync(admin, dagId);
        var run = await fixture.Host.WaitForRunAsync(dagId, runId, r => r.GetProperty("state").GetString() == "succeeded", key: Admin);
        Assert.Equal("dataset", run.GetProperty("runType").GetString());
        var triggering = Assert.Single(run.GetProperty("triggeringDatasets").EnumerateArray());
        Assert.Equal(dataset, triggering.GetProperty("dataset").GetString());

        var list = (await wall.GetFromJsonAsync<JsonElement[]>("/api/v1/datasets"))!;
        var row = Assert.Single(list, d => d.GetProperty("name").GetString() == dataset);
        Assert.Equal(dagId, Assert.Single(row.GetProperty("consumers").EnumerateArray()).GetString());
        Assert.Empty(row.GetProperty("producers").EnumerateArray());
        Assert.Equal(1, row.GetProperty("lastUpdate").GetProperty("seq").GetInt64());
        Assert.Equal(JsonValueKind.String, row.GetProperty("warning").ValueKind);

        using var second = await ci.PostAsync($"/api/v1/datasets/{dataset}/events", null);
        Assert.Equal(HttpStatusCode.Created, second.StatusCode);
        var page = await wall.GetFromJsonAsync<JsonElement>($"/api/v1/datasets/{dataset}?limit=1");
        Assert.Equal(2, Assert.Single(page.GetProperty("updates").EnumerateArray()).GetProperty("seq").GetInt64());
        var next = await wall.GetFromJsonAsync<JsonElement>($"/api/v1/datasets/{dataset}?limit=1&cursor={page.GetProperty("nextCursor").GetString()}");
        Assert.Equal(1, Assert.Single(next.GetProperty("updates").EnumerateArray()).GetProperty("seq").GetInt64());
        Assert.Equal(JsonValueKind.Null, next.GetProperty("nextCursor").ValueKind);
        Assert.Equal(HttpStatusCode.NotFound, (await wall.GetAsync("/api/v1/datasets/never-named")).StatusCode);

        var audit = (await admin.GetFromJsonAsync<JsonElement[]>("/api/v1/audit?limit=100"))!
            .Where(e => e.GetProperty("dagId").GetString() == "dataset:" + dataset)
            .Select(e => (e.GetProperty("keyName").GetString(), e.GetProperty("outcome").GetString(), e.GetProperty("status").GetInt32()))
            .ToList();
        // A body that does not parse is refused before the operation, as a trigger's is, and is not audited.
        Assert.Equal([("ci", "ok", 201), ("ci", "ok", 201), ("wall", "denied", 403)], audit);
    }

    private static async Task<string> WaitForDatasetRunAsync(HttpClient http, string dagId)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (true)
        {
            var runs = (await http.GetFromJsonAsync<JsonElement[]>($"/api/v1/dags/{dagId}/runs", cts.Token))!;
            if (runs.FirstOrDefault(r => r.GetProperty("runType").GetString() == "dataset") is { ValueKind: JsonValueKind.Object } run)
            {
                return run.GetProperty("runId").GetString()!;
            }
            await Task.Delay(50, cts.Token);
        }
    }
}
