namespace Batchyard.Tests;

/// <summary><c>batchyard costs</c>: a table of the month's costs with a total line; the cost line of <c>runs show</c>.</summary>
[Collection(CliCollection.Name)]
public sealed class CostsCliTests(CliFixture fixture)
{
    [Fact]
    public async Task Costs_ByDag_PrintsATableWithTheDagAndATotalLine_AndRunsShowPrintsTheRunsCost()
    {
        var dagId = CliFixture.NewDagId("cli-costs");
        var file = fixture.WriteFile($"{dagId}.yaml", $"id: {dagId}\ntasks:\n  only:\n    backend: noop\n");
        Assert.Equal(0, (await fixture.RunAsync("dags", "apply", file)).ExitCode);
        var trigger = await fixture.RunAsync("dags", "trigger", dagId, "--wait");
        Assert.True(trigger.ExitCode == 0, trigger.ToString());
        var runId = trigger.OutputLines[0].Split(' ')[3].TrimEnd(';');

        var costs = await fixture.RunAsync("costs", "--by", "dag");
        var byType = await fixture.RunAsync("costs", "--by", "instance_type");
        var show = await fixture.RunAsync("runs", "show", dagId, runId);

        Assert.True(costs.ExitCode == 0, costs.ToString());
        Assert.Matches(@"^\d{4}-\d\d-01 00:00:00 to \d{4}-\d\d-01 00:00:00 UTC, by dag$", costs.OutputLines[0]);
        Assert.Matches(@"^DAG\s+USD\s+COMPUTE-S\s+ATTEMPTS\s+UNPRICED$", costs.OutputLines[1]);
        Assert.Contains(costs.OutputLines, l => System.Text.RegularExpressions.Regex.IsMatch(l, $@"^{dagId}\s+0\.00\s+0\s+1\s+0$"));
        Assert.Matches(@"^TOTAL\s+\d+\.\d{2,6}\s+[\d.]+\s+\d+\s+\d+$", costs.OutputLines[^1]);
        Assert.Contains(byType.OutputLines, l => System.Text.RegularExpressions.Regex.IsMatch(l, @"^noop\s+0\.00\s+0\s+\d+\s+0$"));
        Assert.Contains(show.OutputLines, l => System.Text.RegularExpressions.Regex.IsMatch(l, @"^cost\s+0\.00 USD$"));
    }

    [Fact]
    public async Task Costs_WithAnUnknownGrouping_Exits1WithTheProblem()
    {
        var result = await fixture.RunAsync("costs", "--by", "week");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("group_by must be one of", result.Error, StringComparison.Ordinal);
    }
}
