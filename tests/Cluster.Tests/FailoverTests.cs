using System.Globalization;
using System.Text.Json;
using Batchyard.Silo.Storage.Postgres;
using Npgsql;
using Xunit.Abstractions;

namespace Batchyard.Cluster.Tests;

/// <summary>Two real silos on one database; one is killed with SIGKILL while runs and a cron schedule are in flight.</summary>
public sealed class FailoverTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const string LostReason = "the silo running this job stopped";
    private static readonly TimeSpan TickEvery = TimeSpan.FromSeconds(3);
    private readonly SiloSet _silos = new("failover");

    private string Markers => Path.Combine(_silos.Folder, "markers.txt");

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync() => _silos.DisposeAsync().AsTask();

    [Fact]
    public async Task KillingASiloMidRun_EveryRunFinishesOnTheSurvivor_NoAttemptOrSlotDoubledOrMissed()
    {
        var server = await TestPostgres.SharedAsync();
        var connectionString = await server.CreateDatabaseAsync();
        var dags = Directory.CreateDirectory(Path.Combine(_silos.Folder, "dags")).FullName;
        await File.WriteAllTextAsync(Path.Combine(dags, "work.yaml"), WorkDag());
        await File.WriteAllTextAsync(Path.Combine(dags, "tick.yaml"), TickDag());

        // Both silos start together on an empty database: the schema is applied once, under the advisory lock.
        var settings = SiloProcess.Settings(connectionString, dags);
        var a = _silos.Start("silo-a", settings);
        var b = _silos.Start("silo-b", settings);
        await Task.WhenAll(a.WaitReadyAsync(TimeSpan.FromSeconds(180)), b.WaitReadyAsync(TimeSpan.FromSeconds(180)));
        Assert.Equal(Enumerable.Range(1, PostgresSchema.LatestVersion), await SchemaVersionsAsync(connectionString));

        // The schedule is ticking before anything else happens, so that the failover falls between its slots.
        await Wait.UntilAsync(async () => (await a.Api.ListRunsAsync("tick", 10)).Count(t => t.IsFinal()) >= 2, TimeSpan.FromSeconds(30), "the schedule to tick");

        var runIds = new List<string>();
        for (var i = 0; i < 4; i++)
        {
            runIds.Add(await a.Api.TriggerAsync("work", new DateTimeOffset(2024, 1, 1 + i, 0, 0, 0, TimeSpan.Zero)));
        }

        // Every local job running: then the silo running the most of them dies.
        var running = new Dictionary<(string Run, string Task), int>();
        await Wait.UntilAsync(async () =>
        {
            running.Clear();
            foreach (var runId in runIds)
            {
                foreach (var task in (await a.Api.GetRunAsync("work", runId)).Tasks().Where(t => t.GetProperty("taskId").GetString() != "done"))
                {
                    if (task.State() == "running" && task.Attempts().Last().GetProperty("details").TryGetProperty("pid", out var pid))
                    {
                        running[(runId, task.GetProperty("taskId").GetString()!)] = int.Parse(pid.GetString()!, CultureInfo.InvariantCulture);
                    }
                }
            }
            return running.Count == runIds.Count * 3;
        }, TimeSpan.FromSeconds(60), "every work task to run");

        var onSilo = running.ToLookup(r => SiloProcess.ParentOf(r.Value));
        var victim = onSilo[a.Pid].Count() >= onSilo[b.Pid].Count() ? a : b;
        var survivor = victim == a ? b : a;
        var doomed = onSilo[victim.Pid].ToList();
        Assert.NotEmpty(doomed);
        var killedAt = DateTimeOffset.UtcNow;
        victim.KillHard();
        output.WriteLine($"killed {victim.Name} (pid {victim.Pid}) at {killedAt:HH:mm:ss.fff} with {doomed.Count} of {running.Count} jobs");

        // Parent-death signal: the victim's jobs die with it.
        await Wait.UntilAsync(() => Task.FromResult(doomed.All(d => !IsAlive(d.Value))), TimeSpan.FromSeconds(10), "the victim's jobs to die with it");

        var finished = new Dictionary<string, JsonElement>();
        await Wait.UntilAsync(async () =>
        {
            foreach (var runId in runIds.Where(id => !finished.ContainsKey(id)))
            {
                var run = await survivor.Api.GetRunAsync("work", runId);
                if (run.IsFinal())
                {
                    finished[runId] = run;
                }
            }
            return finished.Count == runIds.Count;
        }, TimeSpan.FromSeconds(120), "every work run to finish on the survivor\n" + survivor.Tail());

        Assert.All(finished.Values, run => Assert.Equal("succeeded", run.State()));

        // The victim's jobs were recorded as lost and retried on the survivor; the others ran once, undisturbed.
        var resumedAt = new List<DateTimeOffset>();
        foreach (var ((runId, taskId), _) in running)
        {
            var attempts = finished[runId].Tasks().Single(t => t.GetProperty("taskId").GetString() == taskId).Attempts().ToList();
            if (doomed.Any(d => d.Key == (runId, taskId)))
            {
                Assert.Equal(2, attempts.Count);
                Assert.Equal("failed", attempts[0].State());
                Assert.Equal(LostReason, attempts[0].GetProperty("reason").GetString());
                Assert.Equal("succeeded", attempts[1].State());
                resumedAt.Add(attempts[0].Time("endedAt")!.Value);
            }
            else
            {
                Assert.Equal("succeeded", Assert.Single(attempts).State());
            }
        }
        var firstResume = resumedAt.Min() - killedAt;
        output.WriteLine($"FIGURE kill -9 -> first task resumed on the survivor: {firstResume.TotalSeconds:F1} s (last {(resumedAt.Max() - killedAt).TotalSeconds:F1} s)");

        // Cron: every slot from the first to one well after the failover exists once and succeeded.
        var after = killedAt + TimeSpan.FromSeconds(12);
        List<JsonElement> ticks = [];
        await Wait.UntilAsync(async () =>
        {
            ticks = await survivor.Api.ListRunsAsync("tick", 1000);
            var settled = ticks.Where(t => t.Time("logicalDate") <= after).ToList();
            return ticks.Any(t => t.Time("logicalDate") > after) && settled.All(t => t.IsFinal());
        }, TimeSpan.FromSeconds(90), "the schedule to pass the failover");

        var slots = ticks.Select(t => t.Time("logicalDate")!.Value).Where(d => d <= after).Order().ToList();
        Assert.Equal(slots.Count, slots.Distinct().Count());
        Assert.True(slots[0] < killedAt, $"the first slot {slots[0]:O} should come before the kill");
        for (var i = 1; i < slots.Count; i++)
        {
            Assert.True(slots[i] - slots[i - 1] == TickEvery, $"slot missed between {slots[i - 1]:O} and {slots[i]:O}");
        }
        Assert.All(ticks.Where(t => t.Time("logicalDate") <= after), t => Assert.Equal("succeeded", t.State()));

        // No attempt of any task ever started twice: each job writes its (run, task, attempt) once when it starts.
        var lines = await File.ReadAllLinesAsync(Markers);
        var duplicates = lines.GroupBy(l => l).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
        Assert.Empty(duplicates);
        // Each slot's beat ran: a beat the kill cut off ran again as its next attempt (a line of its own, never the same line twice).
        var beats = lines.Where(l => l.Contains(" beat ", StringComparison.Ordinal)).Select(l => l.Split(' ')).ToList();
        Assert.Equal(slots.Count, beats.Where(b => slots.Any(s => b[0] == ScheduledRunId(s).TrimEnd())).Select(b => b[0]).Distinct().Count());
        Assert.All(beats.GroupBy(b => b[0]).Where(g => g.Count() > 1), g => Assert.Equal(Enumerable.Range(1, g.Count()).Select(i => i.ToString(CultureInfo.InvariantCulture)), g.Select(b => b[2]).Order()));
    }

    private string WorkDag() => $$$"""
        id: work
        max_active_runs: 16
        defaults:
          backend: local
          retries: 2
          retry_delay: 1s
          resources: { memory_mb: 32 }
        tasks:
          t1: { command: [sh, -c, "echo {{ run_id }} {{ task_id }} {{ attempt }} >> {{{Markers}}}; exec sleep 15"] }
          t2: { command: [sh, -c, "echo {{ run_id }} {{ task_id }} {{ attempt }} >> {{{Markers}}}; exec sleep 15"] }
          t3: { command: [sh, -c, "echo {{ run_id }} {{ task_id }} {{ attempt }} >> {{{Markers}}}; exec sleep 15"] }
          done: { backend: noop, depends_on: [t1, t2, t3] }
        """;

    private string TickDag() => $$$"""
        id: tick
        schedule: "*/3 * * * * *"
        catchup: true
        max_active_runs: 100
        defaults:
          retries: 2
          retry_delay: 1s
        tasks:
          beat:
            backend: local
            resources: { memory_mb: 16 }
            command: [sh, -c, "echo {{ run_id }} beat {{ attempt }} >> {{{Markers}}}"]
        """;

    private static string ScheduledRunId(DateTimeOffset slot) =>
        "scheduled__" + slot.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture) + " ";

    private static async Task<List<int>> SchemaVersionsAsync(string connectionString)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT version FROM batchyard_schema_version ORDER BY version", connection);
        await using var reader = await command.ExecuteReaderAsync();
        var versions = new List<int>();
        while (await reader.ReadAsync())
        {
            versions.Add(reader.GetInt32(0));
        }
        return versions;
    }

    private static bool IsAlive(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)] != 'Z';
        }
        catch (IOException)
        {
            return false;
        }
    }
}
