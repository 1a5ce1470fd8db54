using System.Diagnostics;
using System.Text.Json;

namespace Batchyard.Tests;

/// <summary>The <c>batchyard</c> CLI against a running host: output, JSON, exit codes.</summary>
[Collection(CliCollection.Name)]
public sealed class CliTests(CliFixture fixture)
{
    private static string Succeeding(string dagId) => $$"""
        id: {{dagId}}
        description: two tasks that succeed
        tasks:
          extract:
            backend: local
            command: [sh, -c, 'echo "extracted rows=42"']
          publish:
            backend: noop
            depends_on: extract
        """;

    private async Task<string> ApplyAsync(string dagId, string yaml)
    {
        var result = await fixture.RunAsync("dags", "apply", fixture.WriteFile(dagId + ".yaml", yaml));
        Assert.True(result.ExitCode == 0, result.ToString());
        return dagId;
    }

    private static string RunIdFrom(CliResult trigger) =>
        trigger.OutputLines[0].Split(' ')[3].TrimEnd(';');

    [Fact]
    public async Task DagsApply_ValidFile_AppliesItAndDagsListShowsIt()
    {
        var dagId = CliFixture.NewDagId("cli-apply");
        var file = fixture.WriteFile(dagId + ".yaml", Succeeding(dagId));

        var apply = await fixture.RunAsync("dags", "apply", file);
        var list = await fixture.RunAsync("dags", "list");

        Assert.Equal(0, apply.ExitCode);
        Assert.Equal($"{file}: applied {dagId} (2 tasks)", apply.Output.Trim());
        Assert.Equal(0, list.ExitCode);
        Assert.StartsWith("DAG ", list.OutputLines[0], StringComparison.Ordinal);
        Assert.Contains(list.OutputLines, l => l.StartsWith(dagId + " ", StringComparison.Ordinal) && l.Contains(" no ", StringComparison.Ordinal) && l.Contains("manual", StringComparison.Ordinal));
    }

    [Fact]
    public async Task RunsListAndShow_MarkALateRunAndTask()
    {
        var dagId = CliFixture.NewDagId("cli-late");
        var release = fixture.WriteFile(dagId + ".release-name", "");
        File.Delete(release);
        await ApplyAsync(dagId, $$"""
            id: {{dagId}}
            deadline: { within: 300ms, after: queued }
            tasks:
              slow:
                backend: local
                deadline: 300ms
                command: [sh, -c, 'for i in $(seq 1 600); do [ -f "{{release}}" ] && break; sleep 0.1; done']
            """);
        var runId = RunIdFrom(await fixture.RunAsync("dags", "trigger", dagId));

        var until = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        CliResult show;
        while (!(show = await fixture.RunAsync("runs", "show", dagId, runId)).OutputLines.Any(l => l.StartsWith("slow ", StringComparison.Ordinal) && l.Contains("running (late)", StringComparison.Ordinal)))
        {
            Assert.True(DateTime.UtcNow < until, show.ToString());
            await Task.Delay(100);
        }
        Assert.Contains(show.OutputLines, l => l.StartsWith("state ", StringComparison.Ordinal) && l.Contains("running (late)", StringComparison.Ordinal));
        var list = await fixture.RunAsync("runs", "list", dagId);
        Assert.Contains(list.OutputLines, l => l.StartsWith(runId + " ", StringComparison.Ordinal) && l.Contains("running (late)", StringComparison.Ordinal));
        await File.WriteAllTextAsync(release, "");
    }

    [Fact]
    public async Task DagsApply_RefusedFile_PrintsEveryProblemAsFileLineMessageAndExits1()
    {
        var goodId = CliFixture.NewDagId("cli-good");
        var good = fixture.WriteFile(goodId + ".yaml", Succeeding(goodId));
        var badId = CliFixture.NewDagId("cli-bad");
        var bad = fixture.WriteFile(badId + ".yaml", $"""
            id: {badId}
            schedule: "61 * * * *"
            tasks:
              a:
                backend: noop
                depends_on: b
              b:
                backend: noop
                depends_on: a
            """);

        var result = await fixture.RunAsync("dags", "apply", bad, good);

        Assert.Equal(1, result.ExitCode);
        var problems = result.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => l.StartsWith(bad, StringComparison.Ordinal)).ToList();
        Assert.True(problems.Count >= 2, result.ToString());
        Assert.All(problems, p => Assert.Matches(@":\d+: \S", p[bad.Length..]));
        Assert.Contains(problems, p => p.Contains("cycle", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains(":2: ", StringComparison.Ordinal));
        Assert.Contains("1 of 2 file(s) refused", result.Error, StringComparison.Ordinal);
        // The good file in the same call is applied; the refused one is not.
        var list = await fixture.RunAsync("dags", "list", "--json");
        using var dags = JsonDocument.Parse(list.Output);
        var ids = dags.RootElement.EnumerateArray().Select(d => d.GetProperty("dagId").GetString()).ToList();
        Assert.Contains(goodId, ids);
        Assert.DoesNotContain(badId, ids);
    }

    [Fact]
    public async Task DagsTriggerWait_SucceedingRun_ShowsProgressAndExits0()
    {
        var dagId = CliFixture.NewDagId("cli-ok");
        // A file without `id:` is named by its file name, as the server's folder loader does.
        await ApplyAsync(dagId, Succeeding(dagId).Replace($"id: {dagId}\n", "", StringComparison.Ordinal));

        var result = await fixture.RunAsync("dags", "trigger", dagId, "--param", "sample_rate=0.5", "--wait");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains(result.OutputLines, l => l.StartsWith("extract", StringComparison.Ordinal) && l.EndsWith("succeeded", StringComparison.Ordinal));
        Assert.Contains(result.OutputLines, l => l.StartsWith("publish", StringComparison.Ordinal) && l.EndsWith("succeeded", StringComparison.Ordinal));
        Assert.Matches("^run .+ succeeded$", result.OutputLines[^1]);
        var show = await fixture.RunAsync("runs", "show", dagId, RunIdFrom(result), "--json");
        using var run = JsonDocument.Parse(show.Output);
        Assert.Equal("0.5", run.RootElement.GetProperty("params").GetProperty("sample_rate").GetString());
    }

    [Fact]
    public async Task DagsTriggerWait_FailingRun_Exits1WithTheReason()
    {
        var dagId = CliFixture.NewDagId("cli-fail");
        await ApplyAsync(dagId, TestDags.Failing(dagId));

        var result = await fixture.RunAsync("dags", "trigger", dagId, "--wait");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains(result.OutputLines, l => l.StartsWith("broken", StringComparison.Ordinal) && l.Contains("failed (exit code 3)", StringComparison.Ordinal));
        Assert.Matches("^run .+ failed$", result.OutputLines[^1]);
    }

    [Fact]
    public async Task DagsTriggerWait_CancelledRun_Exits2()
    {
        var dagId = CliFixture.NewDagId("cli-cancel");
        await ApplyAsync(dagId, TestDags.Slow(dagId, Path.Combine(fixture.Host.Folder, "never")));

        var waiting = fixture.RunAsync("dags", "trigger", dagId, "--wait");
        var runs = await WaitForAsync(async () =>
        {
            var list = await fixture.RunAsync("runs", "list", dagId, "--json");
            using var json = JsonDocument.Parse(list.Output);
            return json.RootElement.EnumerateArray().Select(r => r.GetProperty("runId").GetString()!).FirstOrDefault();
        });
        var cancel = await fixture.RunAsync("runs", "cancel", dagId, runs);
        var result = await waiting;

        Assert.Equal(0, cancel.ExitCode);
        Assert.Equal($"run {runs} cancelled", cancel.Output.Trim());
        Assert.Equal(2, result.ExitCode);
        Assert.Equal($"run {runs} cancelled", result.OutputLines[^1]);
    }

    [Fact]
    public async Task RunsListAndShow_PrintTablesAndJson()
    {
        var dagId = CliFixture.NewDagId("cli-runs");
        await ApplyAsync(dagId, TestDags.Failing(dagId));
        var trigger = await fixture.RunAsync("dags", "trigger", dagId, "--wait");
        var runId = RunIdFrom(trigger);

        var list = await fixture.RunAsync("runs", "list", dagId);
        var show = await fixture.RunAsync("runs", "show", dagId, runId);
        var json = await fixture.RunAsync("runs", "show", dagId, runId, "--json");

        Assert.Equal(0, list.ExitCode);
        Assert.StartsWith("RUN ", list.OutputLines[0], StringComparison.Ordinal);
        Assert.Contains(list.OutputLines, l => l.StartsWith(runId, StringComparison.Ordinal) && l.Contains("failed", StringComparison.Ordinal) && l.Contains("manual", StringComparison.Ordinal));
        Assert.Equal(0, show.ExitCode);
        Assert.Contains(show.OutputLines, l => l.StartsWith("TASK ", StringComparison.Ordinal));
        Assert.Contains(show.OutputLines, l => l.StartsWith("broken", StringComparison.Ordinal) && l.Contains("failed", StringComparison.Ordinal) && l.Contains(" 3 ", StringComparison.Ordinal));
        using var run = JsonDocument.Parse(json.Output);
        Assert.Equal(3, run.RootElement.GetProperty("tasks")[0].GetProperty("attempts")[0].GetProperty("exitCode").GetInt32());
    }

    [Fact]
    public async Task TasksLogs_PrintsTheAttemptsOutput()
    {
        var dagId = CliFixture.NewDagId("cli-logs");
        await ApplyAsync(dagId, TestDags.Failing(dagId));
        var runId = RunIdFrom(await fixture.RunAsync("dags", "trigger", dagId, "--wait"));

        var logs = await fixture.RunAsync("tasks", "logs", dagId, runId, "broken");

        Assert.Equal(0, logs.ExitCode);
        Assert.Equal("about to fail\n", logs.Output);
    }

    [Fact]
    public async Task TasksLogsFollow_PrintsNewOutputUntilTheAttemptEnds()
    {
        var dagId = CliFixture.NewDagId("cli-follow");
        var release = Path.Combine(fixture.Host.Folder, dagId + ".release");
        await ApplyAsync(dagId, TestDags.Slow(dagId, release));
        var runId = RunIdFrom(await fixture.RunAsync("dags", "trigger", dagId));

        var following = fixture.RunAsync("tasks", "logs", dagId, runId, "slow", "--follow");
        var run = await fixture.Host.WaitForRunAsync(dagId, runId, r => r.GetProperty("tasks")[0].GetProperty("state").GetString() == "running");
        Assert.False(following.IsCompleted, "--follow ended while the task was still running");
        await File.WriteAllTextAsync(release, "");
        var logs = await following;

        Assert.Equal(0, logs.ExitCode);
        Assert.Equal("started\nreleased\n", logs.Output);
    }

    [Fact]
    public async Task TasksLogsFollow_GoesOnThroughRetriesUntilTheTaskIsDone()
    {
        var dagId = CliFixture.NewDagId("cli-follow-retry");
        var marker = Path.Combine(fixture.Host.Folder, dagId + ".tried");
        await ApplyAsync(dagId, TestDags.FailsOnce(dagId, marker, "first try fails", "second try works"));
        var runId = RunIdFrom(await fixture.RunAsync("dags", "trigger", dagId));

        var logs = await fixture.RunAsync("tasks", "logs", dagId, runId, "flaky", "--follow");

        Assert.Equal(0, logs.ExitCode);
        Assert.Equal("first try fails\n--- attempt 2 ---\nsecond try works\n", logs.Output);
    }

    [Fact]
    public async Task TasksClear_RerunsTheTask()
    {
        var dagId = CliFixture.NewDagId("cli-clear");
        await ApplyAsync(dagId, TestDags.Failing(dagId));
        var runId = RunIdFrom(await fixture.RunAsync("dags", "trigger", dagId, "--wait"));

        var clear = await fixture.RunAsync("tasks", "clear", dagId, runId, "broken");
        var rerun = await fixture.Host.WaitForRunAsync(dagId, runId,
            r => r.GetProperty("tasks")[0].GetProperty("attempts").GetArrayLength() == 2 && r.GetProperty("state").GetString() == "failed");

        Assert.Equal(0, clear.ExitCode);
        Assert.StartsWith("cleared broken in run " + runId, clear.Output, StringComparison.Ordinal);
        Assert.Equal(2, rerun.GetProperty("tasks")[0].GetProperty("attempts").GetArrayLength());
    }

    [Fact]
    public async Task DagsPauseUnpauseShow_ReportThePauseState()
    {
        var dagId = CliFixture.NewDagId("cli-pause");
        await ApplyAsync(dagId, Succeeding(dagId));

        var pause = await fixture.RunAsync("dags", "pause", dagId);
        var shown = await fixture.RunAsync("dags", "show", dagId);
        var unpause = await fixture.RunAsync("dags", "unpause", dagId, "--json");

        Assert.Equal($"{dagId} paused", pause.Output.Trim());
        Assert.Contains(shown.OutputLines, l => l.StartsWith("paused", StringComparison.Ordinal) && l.EndsWith("yes", StringComparison.Ordinal));
        Assert.Contains(shown.OutputLines, l => l.StartsWith("extract", StringComparison.Ordinal) && l.Contains("local", StringComparison.Ordinal));
        using var json = JsonDocument.Parse(unpause.Output);
        Assert.False(json.RootElement.GetProperty("paused").GetBoolean());
    }

    [Fact]
    public async Task UnknownDag_Exits1WithTheServersProblem()
    {
        var result = await fixture.RunAsync("dags", "show", "no-such-dag");

        Assert.Equal(1, result.ExitCode);
        Assert.Equal("error: Not found: DAG 'no-such-dag' does not exist", result.Error.Trim());
    }

    [Theory]
    [InlineData(null)]
    [InlineData("wrong-key")]
    public async Task WithoutTheRightToken_Exits1Unauthorized(string? token)
    {
        var result = await fixture.RunAsync(["dags", "list"], token, CancellationToken.None);

        Assert.Equal(1, result.ExitCode);
        Assert.StartsWith("error: Unauthorized", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TokenAndServerOptions_OverrideTheEnvironment()
    {
        var result = await fixture.RunAsync(["dags", "list", "--server", fixture.Host.HttpUrl, "--token", BatchyardTestHost.ApiKey], "wrong-key", CancellationToken.None);

        Assert.Equal(0, result.ExitCode);
    }

    [Fact]
    public async Task UnreachableServer_IsRetriedForRetryFor_ThenExits1()
    {
        var result = await fixture.RunAsync("dags", "list", "--server", "http://127.0.0.1:1", "--retry-for", "2");

        Assert.Equal(1, result.ExitCode);
        var lines = result.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.StartsWith("batchyard: http://127.0.0.1:1: ", lines[0], StringComparison.Ordinal);
        Assert.EndsWith("; retrying in 1 s", lines[0], StringComparison.Ordinal);
        Assert.StartsWith("error: cannot reach http://127.0.0.1:1", lines[^1], StringComparison.Ordinal);
    }

    [Fact]
    public async Task TheInstalledProgram_ReadsItsEnvironmentAndExitsWithTheCommandsCode()
    {
        var dll = typeof(Cli.CliApp).Assembly.Location;
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { dll, "dags", "show", "no-such-dag" })
        {
            start.ArgumentList.Add(arg);
        }
        start.Environment["BATCHYARD_SERVER"] = fixture.Host.HttpUrl;
        start.Environment["BATCHYARD_TOKEN"] = BatchyardTestHost.ApiKey;

        using var process = Process.Start(start)!;
        var error = process.StandardError.ReadToEndAsync();
        var output = await process.StandardOutput.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);

        Assert.Equal(1, process.ExitCode);
        Assert.Equal("", output);
        Assert.Contains("DAG 'no-such-dag' does not exist", await error, StringComparison.Ordinal);
    }

    private static async Task<T> WaitForAsync<T>(Func<Task<T?>> probe) where T : class
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (true)
        {
            if (await probe() is { } value)
            {
                return value;
            }
            await Task.Delay(100, timeout.Token);
        }
    }
}
