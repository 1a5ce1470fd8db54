using System.Text.Json;
using Xunit.Abstractions;

namespace Batchyard.Cluster.Tests;

/// <summary>One silo on a PostgreSQL of its own, which a test may stop and start again.</summary>
public sealed class PrivatePostgresSilo : IAsyncLifetime
{
    private readonly string _dags = Directory.CreateTempSubdirectory("batchyard-pgrestart-").FullName;

    public TestPostgres Server { get; private set; } = null!;

    public SiloProcess Silo { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Server = await TestPostgres.PrivateAsync();
        var connectionString = await Server.CreateDatabaseAsync();
        Silo = SiloProcess.Start("pg-restart", SiloProcess.Settings(connectionString, _dags));
        await Silo.WaitReadyAsync(TimeSpan.FromSeconds(180));
    }

    public async Task DisposeAsync()
    {
        await Silo.DisposeAsync();
        Directory.Delete(_dags, recursive: true);
    }
}

public sealed class PostgresRestartTests(PrivatePostgresSilo cluster, ITestOutputHelper output) : IClassFixture<PrivatePostgresSilo>
{
    private static readonly TimeSpan Outage = TimeSpan.FromSeconds(4);

    [Fact]
    public async Task PostgresRestartedMidRun_RunsFinishAfterReconnect()
    {
        var api = cluster.Silo.Api;
        await api.PutDagAsync("chain", """
            id: chain
            max_active_runs: 8
            defaults: { backend: local, resources: { memory_mb: 32 } }
            flow: first >> second >> last
            tasks:
              first: { command: [sleep, "3"] }
              second: { command: [sleep, "3"] }
              last: { backend: noop }
            """);
        var runIds = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            runIds.Add(await api.TriggerAsync("chain", new DateTimeOffset(2024, 2, 1 + i, 0, 0, 0, TimeSpan.Zero)));
        }
        await Wait.UntilAsync(async () =>
        {
            var runs = await Task.WhenAll(runIds.Select(id => api.GetRunAsync("chain", id)));
            return runs.All(r => r.Tasks().First().State() == "running");
        }, TimeSpan.FromSeconds(30), "the first tasks to run");

        // The jobs end while the database is down: their results must still land once it is back.
        await cluster.Server.StopImmediatelyAsync();
        await Task.Delay(Outage);
        await cluster.Server.StartAgainAsync();
        output.WriteLine("PostgreSQL stopped and started again");

        var finished = new Dictionary<string, JsonElement>();
        await Wait.UntilAsync(async () =>
        {
            foreach (var id in runIds.Where(id => !finished.ContainsKey(id)))
            {
                var run = await api.GetRunAsync("chain", id);
                if (run.IsFinal())
                {
                    finished[id] = run;
                }
            }
            return finished.Count == runIds.Count;
        }, TimeSpan.FromSeconds(90), "the runs to finish after the restart\n" + cluster.Silo.Tail());

        Assert.All(finished.Values, run => Assert.Equal("succeeded", run.State()));
        // And the history tables, which the API lists from, caught up too.
        var listed = await api.ListRunsAsync("chain", 10);
        Assert.Equal(runIds.Order(), listed.Select(r => r.GetProperty("runId").GetString()!).Order());
        Assert.All(listed, r => Assert.Equal("succeeded", r.State()));
    }

    [Fact]
    public async Task ListRuns_PagesByLogicalDate_AndFiltersByState()
    {
        var api = cluster.Silo.Api;
        await api.PutDagAsync("pages", """
            id: pages
            max_active_runs: 20
            params: { code: "0" }
            tasks:
              only: { backend: local, resources: { memory_mb: 16 }, command: [sh, -c, "exit {{ params.code }}"] }
            """);
        var failing = new HashSet<int> { 2, 7, 11 };
        for (var day = 1; day <= 12; day++)
        {
            var code = failing.Contains(day) ? "1" : "0";
            await api.TriggerAsync("pages", new DateTimeOffset(2024, 3, day, 0, 0, 0, TimeSpan.Zero), new Dictionary<string, string> { ["code"] = code });
        }
        await Wait.UntilAsync(async () => (await api.ListRunsAsync("pages", 100)) is { Count: 12 } all && all.All(r => r.IsFinal()),
            TimeSpan.FromSeconds(60), "the twelve runs to finish");

        var pages = new List<List<JsonElement>>();
        string? before = null;
        do
        {
            pages.Add(await api.ListRunsAsync("pages", 5, before: before));
            before = pages[^1].Count > 0 ? pages[^1][^1].GetProperty("logicalDate").GetString() : null;
        }
        while (pages[^1].Count > 0);

        Assert.Equal([5, 5, 2, 0], pages.Select(p => p.Count));
        var days = pages.SelectMany(p => p).Select(r => r.Time("logicalDate")!.Value.Day).ToList();
        Assert.Equal(Enumerable.Range(1, 12).Reverse(), days);

        var failed = await api.ListRunsAsync("pages", 100, state: "failed");
        Assert.Equal(failing.OrderDescending(), failed.Select(r => r.Time("logicalDate")!.Value.Day));
        var succeeded = await api.ListRunsAsync("pages", 4, state: "succeeded", before: "2024-03-10T00:00:00Z");
        Assert.Equal([9, 8, 6, 5], succeeded.Select(r => r.Time("logicalDate")!.Value.Day));
    }
}
