using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json;
using Xunit.Abstractions;

namespace Batchyard.Cluster.Tests;

/// <summary>
/// The API of the survivor while a killed silo is being declared dead: every read of the runs answers 200, or
/// 503 problem+json with Retry-After, and never 500; the runs finish.
/// </summary>
public sealed class FailoverApiTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const int TasksPerRun = 3;
    private readonly SiloSet _silos = new("failover-api");

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync() => _silos.DisposeAsync().AsTask();

    [Fact]
    public async Task KillingASilo_TheSurvivorsReadsOfTheRunsAnswer200Or503WithRetryAfter_NeverA500_AndTheRunsSucceed()
    {
        var server = await TestPostgres.SharedAsync();
        var connectionString = await server.CreateDatabaseAsync();
        var settings = SiloProcess.Settings(connectionString, Directory.CreateDirectory(Path.Combine(_silos.Folder, "dags")).FullName);
        var a = _silos.Start("api-a", settings);
        var b = _silos.Start("api-b", settings);
        await Task.WhenAll(a.WaitReadyAsync(TimeSpan.FromSeconds(180)), b.WaitReadyAsync(TimeSpan.FromSeconds(180)));

        // Orleans places a grain beside its caller while that silo is about as loaded as the best one, so a run
        // tends to keep its tasks on the silo of its DAG. DAGs applied and triggered through each silo in turn
        // spread the work until both silos run jobs (placement follows load, so it gets there in a run or two).
        var release = Path.Combine(_silos.Folder, "release");
        var runs = new Dictionary<string, string>();
        var jobs = new Dictionary<string, int>();
        var onA = 0;
        for (var i = 0; i < 6 && (onA == 0 || onA == jobs.Count); i++)
        {
            var (dagId, silo) = ($"work-{i}", i % 2 == 0 ? a : b);
            await silo.Api.PutDagAsync(dagId, Dag(dagId, release));
            runs[dagId] = await silo.Api.TriggerAsync(dagId);
            await Wait.UntilAsync(async () => await RunningJobsAsync(a, runs, jobs) == runs.Count * TasksPerRun, TimeSpan.FromSeconds(60), "every task to run");
            onA = jobs.Values.Count(pid => SiloProcess.ParentOf(pid) == a.Pid);
        }
        var victim = onA * 2 >= jobs.Count ? a : b;
        var survivor = victim == a ? b : a;
        var runGrainsOnVictim = runs.Count(r => victim.Output.Contains($"{r.Key}/{r.Value}: created", StringComparison.Ordinal));
        output.WriteLine($"{runs.Count} runs; {onA} of {jobs.Count} jobs on {a.Name}; {runGrainsOnVictim} run grain(s) on {victim.Name}, the victim");
        Assert.True(onA > 0 && onA < jobs.Count, $"the jobs should run on both silos, but {onA} of {jobs.Count} are on {a.Name}");

        using var polling = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        var poller = PollAsync(survivor, runs, polling.Token);
        var killedAt = Stopwatch.GetTimestamp();
        victim.KillHard();
        // The survivor's jobs may end now; the victim's are retried on the survivor and end at once.
        await File.WriteAllTextAsync(release, "go");
        output.WriteLine($"killed {victim.Name} (pid {victim.Pid})");

        // The poller reads the runs throughout, and is done once it has seen each of them end.
        List<Answer> answers;
        try
        {
            answers = await poller;
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException("the runs did not all end on the survivor within 120 s\n" + survivor.Tail());
        }

        var wrong = answers.Where(r => r.Status != HttpStatusCode.OK && !(r.Status == HttpStatusCode.ServiceUnavailable && r.RetryAfter is not null && r.ProblemJson)).ToList();
        Assert.True(wrong.Count == 0, "answers other than 200 or 503 with Retry-After:\n" + string.Join('\n', wrong.Take(10)));
        var afterKill = answers.Where(r => r.At > killedAt).ToList();
        output.WriteLine($"FIGURE survivor's API during failover: {afterKill.Count} reads, {afterKill.Count(r => r.Status != HttpStatusCode.OK)} answered 503, slowest {afterKill.Max(r => r.Took).TotalSeconds:F1} s");
        // The poller went round every run until the last ended, and the victim's share cannot end before the
        // victim is declared dead: each run was read while the failover went on, and once more after.
        var readsOfEachRun = afterKill.Where(r => r.Path.Contains("/runs/", StringComparison.Ordinal)).GroupBy(r => r.Path).Select(g => g.Count()).ToList();
        Assert.True(readsOfEachRun.Count == runs.Count && readsOfEachRun.All(n => n >= 2), $"each run should have been read through the failover: {string.Join(", ", readsOfEachRun)}");
        foreach (var (dagId, runId) in runs)
        {
            Assert.Equal("succeeded", (await survivor.Api.GetRunAsync(dagId, runId)).State());
        }
    }

    /// <summary>Reads each run and each DAG's run list from <paramref name="silo"/> over and over, until every run has ended.</summary>
    private static async Task<List<Answer>> PollAsync(SiloProcess silo, Dictionary<string, string> runs, CancellationToken cancellationToken)
    {
        var answers = new List<Answer>();
        var ended = new HashSet<string>();
        string[] paths =
        [
            .. runs.Select(r => $"/api/v1/dags/{r.Key}/runs/{Uri.EscapeDataString(r.Value)}"),
            .. runs.Keys.Select(dagId => $"/api/v1/dags/{dagId}/runs?limit=10"),
        ];
        while (ended.Count < runs.Count)
        {
            foreach (var path in paths)
            {
                var started = Stopwatch.GetTimestamp();
                using var response = await silo.Api.GetAsync(path, cancellationToken);
                var body = await response.Content.ReadAsStringAsync(cancellationToken);
                answers.Add(new Answer(path, response.StatusCode, response.Headers.RetryAfter?.Delta,
                    response.Content.Headers.ContentType?.MediaType == "application/problem+json", Stopwatch.GetTimestamp(), Stopwatch.GetElapsedTime(started), body));
                if (response.StatusCode == HttpStatusCode.OK && path.Contains("/runs/", StringComparison.Ordinal))
                {
                    using var run = JsonDocument.Parse(body);
                    if (run.RootElement.IsFinal())
                    {
                        ended.Add(path);
                    }
                }
            }
            await Task.Delay(TimeSpan.FromMilliseconds(100), cancellationToken);
        }
        return answers;
    }

    /// <summary>Fills <paramref name="jobs"/> with the pid of every running task of <paramref name="runs"/>; returns how many.</summary>
    private static async Task<int> RunningJobsAsync(SiloProcess silo, Dictionary<string, string> runs, Dictionary<string, int> jobs)
    {
        jobs.Clear();
        foreach (var (dagId, runId) in runs)
        {
            foreach (var task in (await silo.Api.GetRunAsync(dagId, runId)).Tasks())
            {
                if (task.State() == "running" && task.Attempts().Last().GetProperty("details").TryGetProperty("pid", out var pid))
                {
                    jobs[$"{dagId}/{task.GetProperty("taskId").GetString()}"] = int.Parse(pid.GetString()!, CultureInfo.InvariantCulture);
                }
            }
        }
        return jobs.Count;
    }

    /// <summary>One answer; <c>At</c> is when it came (a <see cref="Stopwatch"/> timestamp).</summary>
    private sealed record Answer(string Path, HttpStatusCode Status, TimeSpan? RetryAfter, bool ProblemJson, long At, TimeSpan Took, string Body)
    {
        public override string ToString() => $"GET {Path}: {(int)Status} retry-after={RetryAfter} problem+json={ProblemJson} in {Took.TotalMilliseconds:F0} ms: {Body[..Math.Min(300, Body.Length)]}";
    }

    /// <summary>Tasks that run until <paramref name="release"/> exists (a retry after it does ends at once).</summary>
    private static string Dag(string dagId, string release) => $$"""
        id: {{dagId}}
        defaults:
          backend: local
          retries: 2
          retry_delay: 1s
          resources: { memory_mb: 16 }
          command: [sh, -c, 'while [ ! -f "{{release}}" ]; do sleep 0.2; done']
        tasks:
          t1: {}
          t2: {}
          t3: {}
          done: { backend: noop, depends_on: [t1, t2, t3] }
        """;
}
