using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Batchyard.Tests.Security;
using static Batchyard.Tests.Security.RolesFixture;

namespace Batchyard.Tests.Api;

/// <summary><c>/api/v1/dags/{dagId}/backfills</c> at the wire: create, list, progress, cancel, and each refusal as problem+json.</summary>
public sealed class BackfillsApiTests(RolesFixture fixture) : IClassFixture<RolesFixture>
{
    private const string Daily = "0 0 * * *";

    [Fact]
    public async Task Create_Answers201WithLocation_AndItsProgressIsListedAndRead_AndATakenLogicalDateIs409()
    {
        var dagId = await ApplyAsync("bf-api", Daily, "backend: noop");
        using var ci = fixture.Host.Http(Operator);
        using var wall = fixture.Host.Http(Viewer);

        Assert.Equal(HttpStatusCode.Forbidden, (await wall.PostAsJsonAsync($"/api/v1/dags/{dagId}/backfills", Range("2026-01-01", "2026-01-03"))).StatusCode);
        using var created = await ci.PostAsJsonAsync($"/api/v1/dags/{dagId}/backfills", Range("2026-01-01", "2026-01-03"));
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var backfill = await created.Content.ReadFromJsonAsync<JsonElement>();
        var backfillId = backfill.GetProperty("backfillId").GetString()!;
        Assert.Equal($"/api/v1/dags/{dagId}/backfills/{backfillId}", created.Headers.Location?.OriginalString);
        Assert.Equal(3, backfill.GetProperty("total").GetInt32());
        Assert.Equal("missing", backfill.GetProperty("reprocess").GetString());
        Assert.Equal("ci", backfill.GetProperty("createdBy").GetString());

        var done = await WaitAsync(wall, dagId, backfillId, b => b.GetProperty("state").GetString() != "running");
        Assert.Equal("succeeded", done.GetProperty("state").GetString());
        Assert.Equal((3, 3, 0, 0, 0), Counts(done));
        var runs = (await wall.GetFromJsonAsync<JsonElement[]>($"/api/v1/dags/{dagId}/runs"))!;
        Assert.Equal(3, runs.Length);
        Assert.All(runs, r => Assert.Equal("backfill", r.GetProperty("runType").GetString()));

        // One run per slot whatever made it: a manual run for a backfilled logical date is refused.
        using var taken = await ci.PostAsJsonAsync($"/api/v1/dags/{dagId}/runs", new { logical_date = "2026-01-02T00:00:00Z" });
        Assert.Equal(HttpStatusCode.Conflict, taken.StatusCode);
        Assert.Equal("application/problem+json", taken.Content.Headers.ContentType?.MediaType);

        // The same range again with reprocess missing skips every slot.
        using var again = await ci.PostAsJsonAsync($"/api/v1/dags/{dagId}/backfills", Range("2026-01-01", "2026-01-03"));
        var secondId = (await again.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("backfillId").GetString()!;
        var skipped = await WaitAsync(wall, dagId, secondId, b => b.GetProperty("state").GetString() != "running");
        Assert.Equal(("succeeded", 0, 3), (skipped.GetProperty("state").GetString(), skipped.GetProperty("created").GetInt32(), skipped.GetProperty("skipped").GetInt32()));

        using var first = await wall.GetAsync($"/api/v1/dags/{dagId}/backfills?limit=1");
        var page = (await first.Content.ReadFromJsonAsync<JsonElement[]>())!;
        Assert.Equal(secondId, Assert.Single(page).GetProperty("backfillId").GetString());
        Assert.Equal("2", Assert.Single(first.Headers.GetValues("X-Total-Count")));
        var cursor = Assert.Single(first.Headers.GetValues("X-Next-Cursor"));
        using var rest = await wall.GetAsync($"/api/v1/dags/{dagId}/backfills?limit=1&cursor={cursor}");
        Assert.Equal(backfillId, Assert.Single((await rest.Content.ReadFromJsonAsync<JsonElement[]>())!).GetProperty("backfillId").GetString());
        Assert.False(rest.Headers.Contains("X-Next-Cursor"));

        Assert.Equal(HttpStatusCode.NotFound, (await wall.GetAsync($"/api/v1/dags/{dagId}/backfills/nope")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await ci.PostAsJsonAsync("/api/v1/dags/never-applied/backfills", Range("2026-01-01", "2026-01-03"))).StatusCode);
    }

    [Fact]
    public async Task Cancel_StopsTheUnfinishedRuns_AndMakesNoMore()
    {
        var dagId = await ApplyAsync("bf-cancel", Daily, "backend: local\n    command: [sleep, '120']\n    resources: { memory_mb: 32 }");
        using var ci = fixture.Host.Http(Operator);
        using var wall = fixture.Host.Http(Viewer);
        using var created = await ci.PostAsJsonAsync($"/api/v1/dags/{dagId}/backfills", new { from = "2026-01-01T00:00:00Z", to = "2026-01-05T00:00:00Z", max_active_runs = 1, backwards = true });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var backfillId = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("backfillId").GetString()!;
        var running = await WaitAsync(wall, dagId, backfillId, b => b.GetProperty("running").GetInt32() == 1);
        Assert.Equal((5, 1), (running.GetProperty("total").GetInt32(), running.GetProperty("created").GetInt32()));

        Assert.Equal(HttpStatusCode.Forbidden, (await wall.PostAsync($"/api/v1/dags/{dagId}/backfills/{backfillId}/cancel", null)).StatusCode);
        using var cancel = await ci.PostAsync($"/api/v1/dags/{dagId}/backfills/{backfillId}/cancel", null);
        Assert.Equal(HttpStatusCode.OK, cancel.StatusCode);
        Assert.Equal("cancelled", (await cancel.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("state").GetString());

        // Backwards: the one run it made is the newest slot's, and it ends cancelled.
        var run = await fixture.Host.WaitForRunAsync(dagId, "backfill__2026-01-05T00:00:00Z", r => r.GetProperty("state").GetString() == "cancelled", key: Admin);
        Assert.Equal("backfill", run.GetProperty("runType").GetString());
        var after = await WaitAsync(wall, dagId, backfillId, b => b.GetProperty("running").GetInt32() == 0);
        Assert.Equal(("cancelled", 1, 1), (after.GetProperty("state").GetString(), after.GetProperty("created").GetInt32(), after.GetProperty("failed").GetInt32()));
        Assert.Single((await wall.GetFromJsonAsync<JsonElement[]>($"/api/v1/dags/{dagId}/runs"))!);
    }

    [Theory]
    [InlineData(Daily, "2026-01-05T00:00:00Z", "2026-01-01T00:00:00Z", "is after to")]
    [InlineData(null, "2026-01-01T00:00:00Z", "2026-01-05T00:00:00Z", "has no schedule")]
    [InlineData("0 0 1 1 *", "2026-02-01T00:00:00Z", "2026-02-10T00:00:00Z", "holds no slot")]
    [InlineData("* * * * *", "2026-01-01T00:00:00Z", "2026-01-10T00:00:00Z", "more than 10000 slots")]
    [InlineData(Daily, "yesterday", "2026-01-10T00:00:00Z", "ISO-8601")]
    public async Task Create_RefusesWhatCannotBeBackfilled_As400ProblemJson(string? schedule, string from, string to, string expected)
    {
        var dagId = await ApplyAsync("bf-bad", schedule, "backend: noop");
        using var ci = fixture.Host.Http(Operator);
        using var response = await ci.PostAsJsonAsync($"/api/v1/dags/{dagId}/backfills", new { from, to });
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Contains(expected, problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Empty((await ci.GetFromJsonAsync<JsonElement[]>($"/api/v1/dags/{dagId}/backfills"))!);
    }

    [Theory]
    [InlineData("""{"from":"2026-01-01T00:00:00Z","to":"2026-01-02T00:00:00Z","reprocess":"some"}""", "reprocess must be one of")]
    [InlineData("""{"from":"2026-01-01T00:00:00Z","to":"2026-01-02T00:00:00Z","max_active_runs":0}""", "max_active_runs must be")]
    [InlineData("""{"from":"2026-01-01T00:00:00Z"}""", "to is required")]
    [InlineData("""{"from":"2026-01-01T00:00:00Z","to":"2026-01-02T00:00:00Z","until":"x"}""", "unknown member 'until'")]
    public async Task Create_NamesTheMistakeInTheBody(string body, string expected)
    {
        var dagId = await ApplyAsync("bf-body", Daily, "backend: noop");
        using var ci = fixture.Host.Http(Operator);
        using var response = await ci.PostAsync($"/api/v1/dags/{dagId}/backfills", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains(expected, (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    private static object Range(string from, string to) => new { from = from + "T00:00:00Z", to = to + "T00:00:00Z" };

    private static (int Created, int Succeeded, int Running, int Failed, int Skipped) Counts(JsonElement b) =>
        (b.GetProperty("created").GetInt32(), b.GetProperty("succeeded").GetInt32(), b.GetProperty("running").GetInt32(), b.GetProperty("failed").GetInt32(), b.GetProperty("skipped").GetInt32());

    private async Task<string> ApplyAsync(string prefix, string? schedule, string task)
    {
        var dagId = HostFixture.NewDagId(prefix);
        var yaml = $"id: {dagId}\n{(schedule is null ? "" : $"schedule: \"{schedule}\"\n")}tasks:\n  only:\n    {task}\n";
        using var admin = fixture.Host.Http(Admin);
        using var response = await admin.PutAsync($"/api/v1/dags/{dagId}", new StringContent(yaml, System.Text.Encoding.UTF8, "application/yaml"));
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        return dagId;
    }

    private static async Task<JsonElement> WaitAsync(HttpClient http, string dagId, string backfillId, Func<JsonElement, bool> condition)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (true)
        {
            var backfill = await http.GetFromJsonAsync<JsonElement>($"/api/v1/dags/{dagId}/backfills/{backfillId}", cts.Token);
            if (condition(backfill))
            {
                return backfill;
            }
            await Task.Delay(100, cts.Token);
        }
    }
}
