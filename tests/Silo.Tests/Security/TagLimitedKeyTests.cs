using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Batchyard.V1;
using Grpc.Core;
using static Batchyard.Tests.Security.RolesFixture;

namespace Batchyard.Tests.Security;

/// <summary>A key limited to tags sees and acts on its team's DAGs only; another team's DAG is not found.</summary>
public sealed class TagLimitedKeyTests(RolesFixture fixture) : IClassFixture<RolesFixture>
{
    [Fact]
    public async Task ListDags_WithATeamKey_ShowsOnlyTheTeamsDags()
    {
        using var team = fixture.Host.Http(TeamAOperator);
        using var everyone = fixture.Host.Http(Viewer);

        var seen = (await team.GetFromJsonAsync<JsonElement[]>("/api/v1/dags"))!.Select(d => d.GetProperty("dagId").GetString()).ToList();
        var all = (await everyone.GetFromJsonAsync<JsonElement[]>("/api/v1/dags"))!.Select(d => d.GetProperty("dagId").GetString()).ToList();

        Assert.Contains("alpha", seen);
        Assert.DoesNotContain("beta", seen);
        Assert.DoesNotContain("plain", seen);
        Assert.Contains("beta", all);
        Assert.Contains("plain", all);
        var grpc = await fixture.Grpc(TeamAOperator).ListDagsAsync(new ListDagsRequest());
        Assert.Equal(["alpha"], grpc.Dags.Select(d => d.DagId).Where(id => id is "alpha" or "beta" or "plain"));
    }

    [Fact]
    public async Task Costs_WithATeamKey_CountOnlyTheTeamsDags()
    {
        foreach (var dagId in new[] { "alpha", "beta" })
        {
            using var admin = fixture.Host.Http(Admin);
            using var triggered = await admin.PostAsJsonAsync($"/api/v1/dags/{dagId}/runs", new { });
            var runId = (await triggered.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("runId").GetString()!;
            await fixture.Host.WaitForRunAsync(dagId, runId, r => r.GetProperty("state").GetString() == "succeeded", key: Admin);
        }
        using var team = fixture.Host.Http(TeamAOperator);
        using var everyone = fixture.Host.Http(Viewer);

        var seen = (await team.GetFromJsonAsync<JsonElement>("/api/v1/costs"))!.GetProperty("groups").EnumerateArray().Select(g => g.GetProperty("key").GetString()).ToList();
        var all = (await everyone.GetFromJsonAsync<JsonElement>("/api/v1/costs"))!.GetProperty("groups").EnumerateArray().Select(g => g.GetProperty("key").GetString()).ToList();
        var byTag = (await team.GetFromJsonAsync<JsonElement>("/api/v1/costs?group_by=tag"))!.GetProperty("groups").EnumerateArray().Select(g => g.GetProperty("key").GetString()).ToList();

        Assert.Contains("alpha", seen);
        Assert.DoesNotContain("beta", seen);
        Assert.Contains("alpha", all);
        Assert.Contains("beta", all);
        Assert.DoesNotContain("team-b", byTag);
    }

    [Theory]
    [InlineData("GET", "/api/v1/dags/beta")]
    [InlineData("GET", "/api/v1/dags/beta/runs")]
    [InlineData("POST", "/api/v1/dags/beta/pause")]
    [InlineData("POST", "/api/v1/dags/beta/runs")]
    public async Task AnotherTeamsDag_IsNotFound_AsIfItDidNotExist(string method, string path)
    {
        using var team = fixture.Host.Http(TeamAOperator);

        using var response = await team.SendAsync(new HttpRequestMessage(new HttpMethod(method), path) { Content = method == "POST" ? JsonContent.Create(new { }) : null });
        using var missing = await team.SendAsync(new HttpRequestMessage(new HttpMethod(method), path.Replace("beta", "no-such-dag", StringComparison.Ordinal)) { Content = method == "POST" ? JsonContent.Create(new { }) : null });

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        // The same answer as for a DAG that does not exist: a team learns nothing of others' DAGs.
        Assert.Equal(missing.StatusCode, response.StatusCode);
        using var hidden = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        using var absent = JsonDocument.Parse(await missing.Content.ReadAsStringAsync());
        foreach (var member in new[] { "title", "status", "detail" })
        {
            Assert.Equal(absent.RootElement.GetProperty(member).ToString().Replace("no-such-dag", "beta", StringComparison.Ordinal), hidden.RootElement.GetProperty(member).ToString());
        }
    }

    [Fact]
    public async Task OwnDag_CanBeTriggeredAndPaused()
    {
        using var team = fixture.Host.Http(TeamAOperator);

        using var triggered = await team.PostAsJsonAsync("/api/v1/dags/alpha/runs", new { });
        using var paused = await team.PostAsync("/api/v1/dags/alpha/pause", null);
        using var unpaused = await team.PostAsync("/api/v1/dags/alpha/unpause", null);

        Assert.Equal(HttpStatusCode.Accepted, triggered.StatusCode);
        Assert.Equal(HttpStatusCode.OK, paused.StatusCode);
        Assert.Equal(HttpStatusCode.OK, unpaused.StatusCode);
    }

    [Fact]
    public async Task AnotherTeamsRun_CannotBeReadCancelledOrCleared()
    {
        using var admin = fixture.Host.Http(Admin);
        using var trigger = await admin.PostAsJsonAsync("/api/v1/dags/beta/runs", new { });
        var runId = (await trigger.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("runId").GetString();
        using var team = fixture.Host.Http(TeamAOperator);

        Assert.Equal(HttpStatusCode.NotFound, (await team.GetAsync($"/api/v1/dags/beta/runs/{runId}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await team.PostAsync($"/api/v1/dags/beta/runs/{runId}/cancel", null)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await team.PostAsync($"/api/v1/dags/beta/runs/{runId}/tasks/only/clear", null)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await team.GetAsync($"/api/v1/dags/beta/runs/{runId}/tasks/only/logs")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync($"/api/v1/dags/beta/runs/{runId}")).StatusCode);
        var error = await Assert.ThrowsAsync<RpcException>(() => fixture.Grpc(TeamAOperator).GetRunAsync(new GetRunRequest { DagId = "beta", RunId = runId }).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, error.StatusCode);
    }

    [Theory]
    [InlineData("team-b", 403)]
    [InlineData("team-a, team-b", 403)]
    [InlineData("", 403)]
    [InlineData("team-a", 201)]
    public async Task Apply_WithATeamAdminKey_NeedsTheDagsTagsWithinTheKeys(string tags, int expected)
    {
        using var team = fixture.Host.Http(TeamAAdmin);
        var dagId = HostFixture.NewDagId("team-apply");

        using var response = await team.PutAsync($"/api/v1/dags/{dagId}", new StringContent(Tagged(dagId, tags.Split(", ", StringSplitOptions.RemoveEmptyEntries))));

        Assert.Equal(expected, (int)response.StatusCode);
        using var admin = fixture.Host.Http(Admin);
        Assert.Equal(expected == 201 ? HttpStatusCode.OK : HttpStatusCode.NotFound, (await admin.GetAsync($"/api/v1/dags/{dagId}")).StatusCode);
    }

    [Fact]
    public async Task Apply_WithATeamAdminKey_CannotReplaceAnotherTeamsDag()
    {
        using var team = fixture.Host.Http(TeamAAdmin);

        using var response = await team.PutAsync("/api/v1/dags/beta", new StringContent(Tagged("beta", "team-a")));
        using var deleted = await team.DeleteAsync("/api/v1/dags/beta");

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, deleted.StatusCode);
        using var admin = fixture.Host.Http(Admin);
        var beta = await admin.GetFromJsonAsync<JsonElement>("/api/v1/dags/beta");
        Assert.Equal(["team-b"], beta.GetProperty("tags").EnumerateArray().Select(t => t.GetString()));
    }

    [Fact]
    public async Task Grpc_ApplyWithForeignTags_IsPermissionDenied()
    {
        var dagId = HostFixture.NewDagId("team-grpc");

        var error = await Assert.ThrowsAsync<RpcException>(() => fixture.Grpc(TeamAAdmin).ApplyDagAsync(new ApplyDagRequest { DagId = dagId, Source = Tagged(dagId, "team-b") }).ResponseAsync);

        Assert.Equal(StatusCode.PermissionDenied, error.StatusCode);
    }
}
