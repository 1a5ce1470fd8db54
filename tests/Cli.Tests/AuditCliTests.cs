namespace Batchyard.Tests;

/// <summary><c>batchyard audit</c> and the <c>triggered by</c> line of <c>runs show</c>.</summary>
[Collection(CliCollection.Name)]
public sealed class AuditCliTests(CliFixture fixture)
{
    [Fact]
    public async Task Audit_AfterATrigger_ListsItWithTheKeyName_AndRunsShowSaysWhoTriggered()
    {
        var dagId = CliFixture.NewDagId("cli-audit");
        var file = fixture.WriteFile($"{dagId}.yaml", $"id: {dagId}\ntasks:\n  only:\n    backend: noop\n");
        Assert.Equal(0, (await fixture.RunAsync("dags", "apply", file)).ExitCode);
        var trigger = await fixture.RunAsync("dags", "trigger", dagId);
        Assert.True(trigger.ExitCode == 0, trigger.ToString());
        var runId = trigger.OutputLines[0].Split(' ')[3].TrimEnd(';');

        var audit = await fixture.RunAsync("audit", "--limit", "10");
        var show = await fixture.RunAsync("runs", "show", dagId, runId);

        Assert.True(audit.ExitCode == 0, audit.ToString());
        Assert.Matches(@"^TIME\s+KEY\s+ACTION\s+TARGET\s+OUTCOME\s+STATUS", audit.OutputLines[0]);
        // The legacy Batchyard:ApiKey is the admin key named "default".
        Assert.Contains(audit.OutputLines, l => System.Text.RegularExpressions.Regex.IsMatch(l, $@"\sdefault\s+trigger\s+{dagId}/{System.Text.RegularExpressions.Regex.Escape(runId)}\s+ok\s+202$"));
        Assert.Contains(audit.OutputLines, l => System.Text.RegularExpressions.Regex.IsMatch(l, $@"\sdefault\s+apply\s+{dagId}\s+ok\s+201$"));
        Assert.Contains(show.OutputLines, l => System.Text.RegularExpressions.Regex.IsMatch(l, @"^triggered by\s+default$"));
    }

    [Fact]
    public async Task Audit_WithABadLimit_Exits1WithTheProblem()
    {
        var result = await fixture.RunAsync("audit", "--limit", "0");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("limit must be between 1 and 1000", result.Error, StringComparison.Ordinal);
    }
}
