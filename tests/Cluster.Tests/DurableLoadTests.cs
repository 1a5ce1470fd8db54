using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Xunit.Abstractions;

namespace Batchyard.Cluster.Tests;

/// <summary>The durable mode under load, with real silo processes on a real PostgreSQL of each test's own.</summary>
public sealed class DurableLoadTests(ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(60) };
    private readonly string _dags = Directory.CreateTempSubdirectory("batchyard-load-").FullName;
    private readonly List<SiloProcess> _silos = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var silo in _silos)
        {
            await silo.DisposeAsync();
        }
        Directory.Delete(_dags, recursive: true);
    }

    [Fact]
    public async Task A30SecondDatabaseStallDuringAWideRun_FailsNoTaskAndTheApiKeepsAnswering()
    {
        var server = await TestPostgres.PrivateAsync();
        var silo = await StartAsync("stall", await server.CreateDatabaseAsync());
        await silo.Api.PutDagAsync("wide", WideDag("wide", 1000, """start: { backend: local, command: [sleep, "3"], resources: { memory_mb: 16 } }"""));
        var runId = await silo.Api.TriggerAsync("wide");
        await Wait.UntilAsync(async () => (await silo.Api.GetRunAsync("wide", runId)).Tasks().First().State() == "running", TimeSpan.FromSeconds(30), "start to run");

        // The start job ends while the database is frozen: its end, and the 1,000 tasks it lets go, wait for it.
        var reads = new ConcurrentBag<(HttpStatusCode Status, TimeSpan Took)>();
        using var polling = new CancellationTokenSource();
        var poller = PollAsync(silo, $"/api/v1/dags/wide/runs/{runId}", reads, polling.Token);
        var stalledAt = Stopwatch.StartNew();
        await server.StallAsync(TimeSpan.FromSeconds(30));
        output.WriteLine($"database frozen for {stalledAt.Elapsed.TotalSeconds:F1} s");

        var done = await WaitForRunEndAsync(silo, "wide", runId, TimeSpan.FromSeconds(120));
        await polling.CancelAsync();
        await poller;

        Assert.Equal("succeeded", done.State());
        Assert.All(done.Tasks(), t => Assert.Equal(("succeeded", 1), (t.State(), t.Attempts().Count())));
        output.WriteLine($"{reads.Count} reads during the stall, slowest {reads.Max(r => r.Took).TotalMilliseconds:F0} ms");
        Assert.All(reads, r => Assert.True(r.Status == HttpStatusCode.OK, $"GET run answered {(int)r.Status}"));
    }

    [Fact]
    public async Task KillingTheSiloOfA1000TaskWideRun_EveryTaskEndsOnceAndTheRunSucceeds()
    {
        var server = await TestPostgres.SharedAsync();
        var connectionString = await server.CreateDatabaseAsync();
        // The wide tasks share a pool of 50 slots, whose every grant and release is a durable write: the run takes
        // seconds, long enough for the kill to fall in the middle of it (a pool-free noop run ends in well under one).
        var a = await StartAsync("load-a", connectionString, slow: true, pool: 50);
        var b = await StartAsync("load-b", connectionString, slow: true, pool: 50);
        await a.Api.PutDagAsync("wide", WideDag("wide", 1000, "start: { backend: noop }").Replace("defaults: { backend: noop }", "defaults: { backend: noop, pool: narrow }", StringComparison.Ordinal));
        var runId = await a.Api.TriggerAsync("wide");
        var (before, survivor) = await KillTheRunsSiloInFlightAsync(a, b, "wide", runId);

        var done = await WaitForRunEndAsync(survivor, "wide", runId, TimeSpan.FromSeconds(180));
        Assert.Equal("succeeded", done.State());
        Assert.Equal(1002, done.Tasks().Count());
        // Each task made one attempt: attempts the dead silo had made but not yet written were made again under the same number (and job name).
        Assert.All(done.Tasks(), t => Assert.Equal(("succeeded", 1), (t.State(), t.Attempts().Count())));
        Assert.True(before < 1002, "the run had ended before the kill");
    }

    [Fact]
    public async Task KillingTheSiloOfA2000InstanceMap_EveryInstanceEndsOnceAndTheRunSucceeds()
    {
        var server = await TestPostgres.SharedAsync();
        var connectionString = await server.CreateDatabaseAsync();
        var a = await StartAsync("map-a", connectionString, slow: true);
        var b = await StartAsync("map-b", connectionString, slow: true);
        await a.Api.PutDagAsync("mapped", $$"""
            id: mapped
            defaults: { backend: noop }
            tasks:
              start: {}
              score:
                depends_on: [start]
                map: { over: [{{string.Join(", ", Enumerable.Range(0, 2000))}}], max_active: 50 }
              join: { depends_on: [score] }
            """);
        var runId = await a.Api.TriggerAsync("mapped");
        var (before, survivor) = await KillTheRunsSiloInFlightAsync(a, b, "mapped", runId);

        var done = await WaitForRunEndAsync(survivor, "mapped", runId, TimeSpan.FromSeconds(240));
        Assert.Equal("succeeded", done.State());
        var instances = done.Tasks().Where(t => t.TryGetProperty("mapIndex", out var i) && i.ValueKind == JsonValueKind.Number).ToList();
        Assert.Equal(Enumerable.Range(0, 2000), instances.Select(t => t.GetProperty("mapIndex").GetInt32()).Order());
        // Each instance made one attempt: what the dead silo had launched but not written was launched again under the same job name.
        Assert.All(instances, t => Assert.Equal(("succeeded", 1), (t.State(), t.Attempts().Count())));
        Assert.Equal(2000, done.Tasks().Single(t => t.GetProperty("taskId").GetString() == "score" && t.TryGetProperty("mapCount", out var n) && n.ValueKind == JsonValueKind.Number).GetProperty("mapCount").GetInt32());
        Assert.True(before < 2000, "the map had ended before the kill");
    }

    [Fact]
    public async Task ABurstOf2000Runs_AllSucceedWhileTheApiKeepsAnswering()
    {
        var server = await TestPostgres.SharedAsync();
        var silo = await StartAsync("burst", await server.CreateDatabaseAsync());
        await silo.Api.PutDagAsync("burst", """
            id: burst
            max_active_runs: 5000
            defaults: { backend: noop }
            flow: extract >> score
            tasks: { extract: {}, score: {} }
            """);
        var reads = new ConcurrentBag<(HttpStatusCode Status, TimeSpan Took)>();
        using var polling = new CancellationTokenSource();
        var poller = PollAsync(silo, "/api/v1/dags/burst", reads, polling.Token);

        var watch = Stopwatch.StartNew();
        var day0 = new DateTimeOffset(2020, 1, 1, 0, 0, 0, TimeSpan.Zero);
        var triggers = new ConcurrentBag<string>();
        await Parallel.ForEachAsync(Enumerable.Range(0, 2000), new ParallelOptions { MaxDegreeOfParallelism = 32 }, async (i, _) =>
            triggers.Add(await silo.Api.TriggerAsync("burst", day0.AddMinutes(i))));
        output.WriteLine($"2000 runs triggered in {watch.Elapsed.TotalSeconds:F1} s");
        await Wait.UntilAsync(async () => await CountAsync(silo, "burst", "succeeded") == 2000, TimeSpan.FromSeconds(180), "every run to succeed");
        output.WriteLine($"2000 runs succeeded {watch.Elapsed.TotalSeconds:F1} s after the first trigger");
        await polling.CancelAsync();
        await poller;

        Assert.Equal(2000, triggers.Distinct().Count());
        Assert.Empty(await silo.Api.ListRunsAsync("burst", 10, state: "failed"));
        output.WriteLine($"{reads.Count} DAG reads during the burst, slowest {reads.Max(r => r.Took).TotalMilliseconds:F0} ms");
        Assert.All(reads, r => Assert.Equal(HttpStatusCode.OK, r.Status));
    }

    /// <summary>
    /// Finds which of two silos holds the run, kills it (kill -9) once 50 of its attempts have ended, and returns how
    /// many had ended by then, with the silo that survives. The run's own log lines, read in this process, catch the
    /// run early however fast it goes.
    /// </summary>
    private async Task<(int Ended, SiloProcess Survivor)> KillTheRunsSiloInFlightAsync(SiloProcess a, SiloProcess b, string dagId, string runId)
    {
        var created = $"{dagId}/{runId}: created";
        await Wait.UntilAsync(() => Task.FromResult(a.Output.Contains(created, StringComparison.Ordinal) || b.Output.Contains(created, StringComparison.Ordinal)), TimeSpan.FromSeconds(30), "the run grain to be placed");
        var victim = a.Output.Contains(created, StringComparison.Ordinal) ? a : b;
        await UntilEndedAttemptsAsync(victim, 50, TimeSpan.FromSeconds(60));
        victim.KillHard();
        var ended = EndedAttempts(victim);
        output.WriteLine($"killed {victim.Name}, the run's silo, with {ended} attempts logged as ended");
        return (ended, victim == a ? b : a);
    }

    /// <summary>Attempts the silo's run grains logged as ended ("attempt 1: Succeeded"), from its output.</summary>
    private static int EndedAttempts(SiloProcess silo)
    {
        var output = silo.Output;
        var count = 0;
        for (var at = output.IndexOf("attempt 1: Succeeded", StringComparison.Ordinal); at >= 0; at = output.IndexOf("attempt 1: Succeeded", at + 1, StringComparison.Ordinal))
        {
            count++;
        }
        return count;
    }

    private static async Task UntilEndedAttemptsAsync(SiloProcess silo, int count, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (EndedAttempts(silo) < count)
        {
            Assert.True(DateTime.UtcNow < deadline, $"fewer than {count} attempts ended on {silo.Name} in {timeout}\n{silo.Tail()}");
            await Task.Delay(10);
        }
    }

    private async Task<SiloProcess> StartAsync(string name, string connectionString, bool slow = false, int? pool = null)
    {
        var settings = SiloProcess.Settings(connectionString, _dags);
        settings["Logging__LogLevel__Batchyard.Runs.JobSupervisorGrain"] = "Warning";
        // The run grain's "created" line tells the kill test where the run lives.
        settings["Logging__LogLevel__Batchyard.Runs.DagRunGrain"] = "Information";
        if (pool is { } slots)
        {
            settings["Batchyard__Pools__narrow"] = slots.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
        if (slow)
        {
            settings["Batchyard__Journal__MaxBatchEvents"] = "1";
            settings["Batchyard__Journal__Writers"] = "1";
        }
        var silo = SiloProcess.Start(name, settings);
        _silos.Add(silo);
        await silo.WaitReadyAsync(TimeSpan.FromSeconds(180));
        return silo;
    }

    /// <summary>Runs of a DAG in a state, read page by page (the API gives at most 1,000 at once).</summary>
    private static async Task<int> CountAsync(SiloProcess silo, string dagId, string state)
    {
        var count = 0;
        string? before = null;
        while (true)
        {
            var page = await silo.Api.ListRunsAsync(dagId, 1000, state, before);
            count += page.Count;
            if (page.Count < 1000)
            {
                return count;
            }
            before = page[^1].GetProperty("logicalDate").GetString();
        }
    }

    private static string WideDag(string id, int width, string start) =>
        $"id: {id}\nmax_active_runs: 10\ndefaults: {{ backend: noop }}\ntasks:\n  {start}\n"
        + string.Concat(Enumerable.Range(0, width).Select(i => $"  w{i}: {{ depends_on: [start] }}\n"))
        + $"  join: {{ depends_on: [{string.Join(", ", Enumerable.Range(0, width).Select(i => $"w{i}"))}] }}\n";

    private static async Task<JsonElement> WaitForRunEndAsync(SiloProcess silo, string dagId, string runId, TimeSpan timeout)
    {
        JsonElement run = default;
        await Wait.UntilAsync(async () => (run = await silo.Api.GetRunAsync(dagId, runId)).IsFinal(), timeout, $"{dagId}/{runId} to end\n{silo.Tail()}");
        return run;
    }

    /// <summary>Reads <paramref name="path"/> every 100 ms until cancelled, recording each answer's status and time.</summary>
    private static async Task PollAsync(SiloProcess silo, string path, ConcurrentBag<(HttpStatusCode, TimeSpan)> reads, CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            var watch = Stopwatch.StartNew();
            try
            {
                using var response = await Http.GetAsync(new Uri(silo.BaseAddress, path), CancellationToken.None);
                reads.Add((response.StatusCode, watch.Elapsed));
            }
            catch (TaskCanceledException)
            {
                reads.Add((HttpStatusCode.GatewayTimeout, watch.Elapsed));
            }
            try
            {
                await Task.Delay(100, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }
}
