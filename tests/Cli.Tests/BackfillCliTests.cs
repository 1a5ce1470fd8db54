using System.Net.Http.Json;
using System.Text.Json;
using Batchyard.Cli;

namespace Batchyard.Tests;

/// <summary><c>dags backfill</c> and <c>backfills list|show|cancel</c> against a running host.</summary>
[Collection(CliCollection.Name)]
public sealed class BackfillCliTests(CliFixture fixture)
{
    [Fact]
    public async Task DagsBackfill_Wait_PrintsProgressLines_AndExits0WhenEveryRunSucceeded()
    {
        var dagId = CliFixture.NewDagId("cli-bf");
        await fixture.Host.ApplyAsync(dagId, $"id: {dagId}\nschedule: \"0 0 * * *\"\ntasks:\n  only:\n    backend: noop\n");

        var result = await fixture.RunAsync("dags", "backfill", dagId, "--from", "2026-01-01", "--to", "2026-01-30", "--max-active-runs", "5", "--wait");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("30 slot(s); waiting for it to end", result.OutputLines[0], StringComparison.Ordinal);
        // Not a terminal: plain lines, no bar redrawn with carriage returns.
        Assert.DoesNotContain('\r', result.Output);
        Assert.Contains(result.OutputLines, l => l.StartsWith("30/30 done", StringComparison.Ordinal));
        Assert.EndsWith("succeeded: 30 created, 0 running, 30 succeeded, 0 failed, 0 skipped of 30", result.OutputLines[^1], StringComparison.Ordinal);

        var list = await fixture.RunAsync("backfills", "list", dagId, "--json");
        var backfill = Assert.Single(JsonDocument.Parse(list.Output).RootElement.EnumerateArray());
        Assert.Equal(("succeeded", 5), (backfill.GetProperty("state").GetString(), backfill.GetProperty("maxActiveRuns").GetInt32()));
        var backfillId = backfill.GetProperty("backfillId").GetString()!;
        var show = await fixture.RunAsync("backfills", "show", dagId, backfillId);
        Assert.True(show.ExitCode == 0, show.ToString());
        Assert.Contains(show.OutputLines, l => l.StartsWith("range", StringComparison.Ordinal) && l.EndsWith("2026-01-01 00:00:00 to 2026-01-30 23:59:59", StringComparison.Ordinal));

        // Again with reprocess missing: every slot has its run, so nothing is made.
        var again = await fixture.RunAsync("dags", "backfill", dagId, "--from", "2026-01-01", "--to", "2026-01-30", "--json", "--wait");
        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.Equal(30, JsonDocument.Parse(again.Output).RootElement.GetProperty("skipped").GetInt32());
        var table = await fixture.RunAsync("backfills", "list", dagId, "--limit", "1");
        Assert.Equal(2, table.OutputLines.Length);
    }

    [Fact]
    public async Task DagsBackfill_Wait_Exits1WhenARunFailed()
    {
        var dagId = CliFixture.NewDagId("cli-bf-fail");
        await fixture.Host.ApplyAsync(dagId, $"id: {dagId}\nschedule: \"0 0 * * *\"\ntasks:\n  broken:\n    backend: local\n    command: [sh, -c, 'exit 3']\n");

        var result = await fixture.RunAsync("dags", "backfill", dagId, "--from", "2026-01-01", "--to", "2026-01-02", "--wait");

        Assert.True(result.ExitCode == 1, result.ToString());
        Assert.Contains("failed: 2 created, 0 running, 0 succeeded, 2 failed", result.OutputLines[^1], StringComparison.Ordinal);
    }

    [Fact]
    public async Task BackfillsCancel_WhileAnotherWaits_SaysCancelled_AndTheWaitExits2()
    {
        var dagId = CliFixture.NewDagId("cli-bf-cancel");
        await fixture.Host.ApplyAsync(dagId, $"id: {dagId}\nschedule: \"0 0 * * *\"\ntasks:\n  hold:\n    backend: local\n    command: [sleep, '120']\n    resources: {{ memory_mb: 32 }}\n");
        var waiting = fixture.RunAsync("dags", "backfill", dagId, "--from", "2026-01-01", "--to", "2026-01-03", "--max-active-runs", "1", "--wait");
        var backfillId = await RunningBackfillAsync(dagId);

        var cancel = await fixture.RunAsync("backfills", "cancel", dagId, backfillId);
        Assert.True(cancel.ExitCode == 0, cancel.ToString());
        Assert.Equal($"backfill {backfillId} cancelled", cancel.OutputLines[0]);
        var waited = await waiting;
        Assert.True(waited.ExitCode == 2, waited.ToString());
        Assert.StartsWith($"backfill {backfillId} cancelled", waited.OutputLines[^1], StringComparison.Ordinal);
        var show = await fixture.RunAsync("backfills", "show", dagId, backfillId);
        Assert.Contains(show.OutputLines, l => l.StartsWith("state", StringComparison.Ordinal) && l.EndsWith("cancelled", StringComparison.Ordinal));
    }

    private async Task<string> RunningBackfillAsync(string dagId)
    {
        using var http = fixture.Host.Http();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (true)
        {
            var backfills = (await http.GetFromJsonAsync<JsonElement[]>($"/api/v1/dags/{dagId}/backfills", timeout.Token))!;
            if (backfills.FirstOrDefault(b => b.GetProperty("running").GetInt32() == 1) is { ValueKind: JsonValueKind.Object } running)
            {
                return running.GetProperty("backfillId").GetString()!;
            }
            await Task.Delay(50, timeout.Token);
        }
    }

    [Theory]
    [InlineData("--from", "2026-01-05", "--to", "2026-01-01", "is after to")]
    [InlineData("--from", "soon", "--to", "2026-01-01", "must be dates")]
    public async Task DagsBackfill_BadRange_Exits1WithTheReason(string f, string from, string t, string to, string expected)
    {
        var dagId = CliFixture.NewDagId("cli-bf-bad");
        await fixture.Host.ApplyAsync(dagId, $"id: {dagId}\nschedule: \"0 0 * * *\"\ntasks:\n  only:\n    backend: noop\n");

        var result = await fixture.RunAsync("dags", "backfill", dagId, f, from, t, to, "--wait");

        Assert.True(result.ExitCode == 1, result.ToString());
        Assert.Contains(expected, result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DagsBackfill_UnknownReprocess_IsAUsageError()
    {
        var result = await fixture.RunAsync("dags", "backfill", "any", "--from", "2026-01-01", "--to", "2026-01-02", "--reprocess", "some");
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("some", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void ProgressLine_OnATerminal_DrawsABarOfTheSlotsDone()
    {
        using var document = JsonDocument.Parse("""{"total":10,"created":6,"running":2,"succeeded":3,"failed":1,"skipped":1}""");

        Assert.Equal("[###############...............] 5/10 done: 6 created, 2 running, 3 succeeded, 1 failed, 1 skipped of 10", BackfillCommands.ProgressLine(document.RootElement, bar: true));
        Assert.Equal("  5/10 done: 6 created, 2 running, 3 succeeded, 1 failed, 1 skipped of 10", BackfillCommands.ProgressLine(document.RootElement, bar: false));
    }

    [Theory]
    [InlineData("2026-01-01", false, "2026-01-01T00:00:00.0000000Z")]
    [InlineData("2026-01-30", true, "2026-01-30T23:59:59.9999999Z")]
    [InlineData("2026-01-30T06:00:00+02:00", true, "2026-01-30T04:00:00.0000000Z")]
    [InlineData("the 30th", true, null)]
    public void Time_ADateAsTo_CountsThatUtcDayWhole(string text, bool endOfDay, string? expected) =>
        Assert.Equal(expected, BackfillCommands.Time(text, endOfDay));
}
