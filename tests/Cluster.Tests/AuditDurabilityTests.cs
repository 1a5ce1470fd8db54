using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace Batchyard.Cluster.Tests;

/// <summary>In PostgreSQL mode the audit log and a run's <c>triggeredBy</c> outlive the silo that recorded them.</summary>
public sealed class AuditDurabilityTests : IAsyncLifetime
{
    private const string OperatorKey = "durable-ci-key-5e21";
    private const string AdminKey = "durable-ops-key-8a07";
    private readonly SiloSet _silos = new("audit");

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync() => _silos.DisposeAsync().AsTask();

    [Fact]
    public async Task AuditEntriesAndTriggeredBy_SurviveARestart()
    {
        var server = await TestPostgres.SharedAsync();
        var settings = SiloProcess.Settings(await server.CreateDatabaseAsync(), _silos.Folder);
        settings["Batchyard__ApiKeys__ci__Key"] = OperatorKey;
        settings["Batchyard__ApiKeys__ci__Role"] = "operator";
        settings["Batchyard__ApiKeys__ops__Key"] = AdminKey;
        settings["Batchyard__ApiKeys__ops__Role"] = "admin";
        var dagId = $"durable-audit-{Guid.NewGuid().ToString("N")[..6]}";

        var first = _silos.Start("first", settings);
        await first.WaitReadyAsync(TimeSpan.FromSeconds(180));
        string runId;
        using (var ops = Client(first, AdminKey))
        using (var ci = Client(first, OperatorKey))
        {
            (await ops.PutAsync($"api/v1/dags/{dagId}", new StringContent($"id: {dagId}\ntasks:\n  only:\n    backend: noop\n"))).EnsureSuccessStatusCode();
            using var trigger = await ci.PostAsJsonAsync($"api/v1/dags/{dagId}/runs", new { });
            Assert.Equal(HttpStatusCode.Accepted, trigger.StatusCode);
            runId = (await trigger.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("runId").GetString()!;
            Assert.Equal(HttpStatusCode.Forbidden, (await ci.DeleteAsync($"api/v1/dags/{dagId}")).StatusCode);
        }
        first.Terminate();
        Assert.Equal(0, await first.WaitExitAsync(TimeSpan.FromSeconds(30)));

        var second = _silos.Start("second", settings);
        await second.WaitReadyAsync(TimeSpan.FromSeconds(180));
        using var admin = Client(second, AdminKey);
        var entries = (await admin.GetFromJsonAsync<JsonElement[]>("api/v1/audit?limit=10"))!
            .Where(e => e.GetProperty("dagId").GetString() == dagId)
            .Select(e => (e.GetProperty("keyName").GetString(), e.GetProperty("action").GetString(), e.GetProperty("outcome").GetString(), e.GetProperty("status").GetInt32()));
        var run = await admin.GetFromJsonAsync<JsonElement>($"api/v1/dags/{dagId}/runs/{runId}");

        Assert.Equal([("ci", "delete", "denied", 403), ("ci", "trigger", "ok", 202), ("ops", "apply", "ok", 201)], entries);
        Assert.Equal("ci", run.GetProperty("triggeredBy").GetString());
    }

    private static HttpClient Client(SiloProcess silo, string key)
    {
        var http = new HttpClient { BaseAddress = silo.BaseAddress };
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", key);
        return http;
    }
}
