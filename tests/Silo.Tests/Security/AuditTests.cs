using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Batchyard.V1;
using static Batchyard.Tests.Security.RolesFixture;

namespace Batchyard.Tests.Security;

/// <summary>Every change is recorded with the key's name, the action, the target, the time and the outcome; refused attempts too.</summary>
public sealed class AuditTests(RolesFixture fixture) : IClassFixture<RolesFixture>
{
    [Fact]
    public async Task TriggerClearDeleteAndADeniedAttempt_AreEachRecorded_NewestFirst()
    {
        var dagId = HostFixture.NewDagId("audited");
        using var admin = fixture.Host.Http(Admin);
        using var ci = fixture.Host.Http(Operator);
        using var wall = fixture.Host.Http(Viewer);
        (await admin.PutAsync($"/api/v1/dags/{dagId}", new StringContent(TestDags.Noop(dagId)))).EnsureSuccessStatusCode();
        var before = DateTimeOffset.UtcNow;

        using var trigger = await ci.PostAsJsonAsync($"/api/v1/dags/{dagId}/runs", new { });
        var runId = (await trigger.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("runId").GetString()!;
        await fixture.Host.WaitForRunAsync(dagId, runId, r => r.GetProperty("state").GetString() == "succeeded", key: Admin);
        (await ci.PostAsync($"/api/v1/dags/{dagId}/runs/{runId}/tasks/only/clear", null)).EnsureSuccessStatusCode();
        Assert.Equal(HttpStatusCode.Forbidden, (await wall.PostAsJsonAsync($"/api/v1/dags/{dagId}/runs", new { })).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await admin.DeleteAsync($"/api/v1/dags/{dagId}")).StatusCode);

        var entries = (await admin.GetFromJsonAsync<JsonElement[]>("/api/v1/audit?limit=100"))!
            .Where(e => e.GetProperty("dagId").GetString() == dagId).ToList();
        Assert.Equal(
            [("ops", "delete", dagId, "ok", 204), ("wall", "trigger", dagId, "denied", 403), ("ci", "clear", $"{dagId}/{runId}/only", "ok", 200), ("ci", "trigger", $"{dagId}/{runId}", "ok", 202), ("ops", "apply", dagId, "ok", 201)],
            entries.Select(e => (e.GetProperty("keyName").GetString(), e.GetProperty("action").GetString(), e.GetProperty("target").GetString(), e.GetProperty("outcome").GetString(), e.GetProperty("status").GetInt32())));
        Assert.All(entries.Take(4), e => Assert.InRange(e.GetProperty("at").GetDateTimeOffset(), before.AddSeconds(-1), DateTimeOffset.UtcNow.AddSeconds(1)));
        Assert.DoesNotContain(entries, e => e.GetRawText().Contains(Operator, StringComparison.Ordinal) || e.GetRawText().Contains(Viewer, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Audit_IsPagedWithLimitAndBefore_AndListedOverGrpc()
    {
        using var admin = fixture.Host.Http(Admin);
        var dagId = HostFixture.NewDagId("audit-page");
        for (var i = 0; i < 3; i++)
        {
            (await admin.PostAsync($"/api/v1/dags/{dagId}/pause", null)).Dispose();
            await Task.Delay(20);
        }

        var newest = (await admin.GetFromJsonAsync<JsonElement[]>("/api/v1/audit?limit=2"))!;
        var older = (await admin.GetFromJsonAsync<JsonElement[]>($"/api/v1/audit?limit=1&before={Uri.EscapeDataString(newest[1].GetProperty("at").GetString()!)}"))!;
        var grpc = await fixture.Grpc(Admin).ListAuditAsync(new ListAuditRequest { Limit = 3 });

        Assert.Equal(2, newest.Length);
        Assert.True(newest[0].GetProperty("id").GetInt64() > newest[1].GetProperty("id").GetInt64());
        Assert.Single(older);
        Assert.True(older[0].GetProperty("at").GetDateTimeOffset() < newest[1].GetProperty("at").GetDateTimeOffset());
        // A pause of a DAG that does not exist is an error (404), still recorded.
        Assert.Equal(("pause", "error", 404), (newest[0].GetProperty("action").GetString(), newest[0].GetProperty("outcome").GetString(), newest[0].GetProperty("status").GetInt32()));
        Assert.Equal(newest[0].GetProperty("id").GetInt64(), grpc.Entries[0].Id);
        Assert.Equal(dagId, grpc.Entries[0].Target);
        Assert.Equal(HttpStatusCode.BadRequest, (await admin.GetAsync("/api/v1/audit?limit=0")).StatusCode);
    }
}
