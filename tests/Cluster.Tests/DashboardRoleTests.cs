using System.Net;

namespace Batchyard.Cluster.Tests;

/// <summary><c>Batchyard:Role=Dashboard</c>: the dashboard in its own process, an Orleans client of the cluster.</summary>
public sealed class DashboardRoleTests : IAsyncLifetime
{
    private readonly string _dags = Directory.CreateTempSubdirectory("batchyard-dashboard-role-").FullName;
    private readonly List<SiloProcess> _processes = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var process in _processes)
        {
            await process.DisposeAsync();
        }
        Directory.Delete(_dags, recursive: true);
    }

    [Fact]
    public async Task DashboardProcess_ShowsTheClustersDagsAndRuns_FromItsOwnProcess()
    {
        var server = await TestPostgres.SharedAsync();
        var settings = SiloProcess.Settings(await server.CreateDatabaseAsync(), _dags);
        var silo = SiloProcess.Start("silo", settings);
        _processes.Add(silo);
        await silo.WaitReadyAsync(TimeSpan.FromSeconds(90));
        await silo.Api.PutDagAsync("shown-elsewhere", "description: Seen from the dashboard process\ntasks:\n  only: { backend: noop }\n");
        var runId = await silo.Api.TriggerAsync("shown-elsewhere");
        await Wait.UntilAsync(async () => (await silo.Api.GetRunAsync("shown-elsewhere", runId)).State() == "succeeded", TimeSpan.FromSeconds(30), "the run to succeed");

        var dashboard = SiloProcess.Start("dashboard", new Dictionary<string, string>(settings) { ["Batchyard__Role"] = "Dashboard" });
        _processes.Add(dashboard);
        await dashboard.WaitReadyAsync(TimeSpan.FromSeconds(90));

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
