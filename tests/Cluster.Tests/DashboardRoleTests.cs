using System.Net;

namespace Batchyard.Cluster.Tests;

/// <summary><c>Batchyard:Role=Dashboard</c>: the dashboard in its own process, an Orleans client of the cluster.</summary>
public sealed class DashboardRoleTests : IAsyncLifetime
{
    private readonly SiloSet _processes = new("dashboard-role");

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync() => _processes.DisposeAsync().AsTask();

    [Fact]
    public async Task DashboardProcess_ShowsTheClustersDagsAndRuns_FromItsOwnProcess()
    {
        var server = await TestPostgres.SharedAsync();
        var settings = SiloProcess.Settings(await server.CreateDatabaseAsync(), _processes.Folder);
        var silo = _processes.Start("silo", settings);
        await silo.WaitReadyAsync(TimeSpan.FromSeconds(180));
        await silo.Api.PutDagAsync("shown-elsewhere", "description: Seen from the dashboard process\ntasks:\n  only: { backend: noop }\n");
        var runId = await silo.Api.TriggerAsync("shown-elsewhere");
        await Wait.UntilAsync(async () => (await silo.Api.GetRunAsync("shown-elsewhere", runId)).State() == "succeeded", TimeSpan.FromSeconds(30), "the run to succeed");

        var dashboard = _processes.Start("dashboard", new Dictionary<string, string>(settings) { ["Batchyard__Role"] = "Dashboard" });
        await dashboard.WaitReadyAsync(TimeSpan.FromSeconds(180));

        using var http = new HttpClient { BaseAddress = dashboard.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        var list = await http.GetStringAsync(new Uri("/", UriKind.Relative));
        Assert.Contains("shown-elsewhere", list, StringComparison.Ordinal);
        Assert.Contains("Seen from the dashboard process", list, StringComparison.Ordinal);
        var run = await http.GetStringAsync(new Uri($"/dags/shown-elsewhere/runs/{Uri.EscapeDataString(runId)}", UriKind.Relative));
        Assert.Contains("succeeded", run, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(new Uri("/_framework/blazor.web.js", UriKind.Relative))).StatusCode);
        // Only the dashboard lives there: no API, no silo of its own in the cluster.
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync(new Uri("/api/v1/dags", UriKind.Relative))).StatusCode);
    }
}
