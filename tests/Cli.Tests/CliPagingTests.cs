using System.Text.Json;

namespace Batchyard.Tests;

/// <summary><c>dags list</c> and <c>runs list</c> read every page of the server's lists, with the server's filters.</summary>
[Collection(CliCollection.Name)]
public sealed class CliPagingTests(CliFixture fixture)
{
    private async Task ApplyAsync(string dagId, string tag, string owner)
    {
        var yaml = $"id: {dagId}\nowner: {owner}\ntags: [{tag}]\ntasks:\n  only:\n    backend: noop\n";
        var result = await fixture.RunAsync("dags", "apply", fixture.WriteFile(dagId + ".yaml", yaml));
        Assert.True(result.ExitCode == 0, result.ToString());
    }

    private static List<string> Ids(CliResult result, string member)
    {
        Assert.True(result.ExitCode == 0, result.ToString());
        using var json = JsonDocument.Parse(result.Output);
        return [.. json.RootElement.EnumerateArray().Select(e => e.GetProperty(member).GetString()!)];
    }

    [Fact]
    public async Task DagsList_MoreThanOnePage_PrintsEveryMatchingDagInIdOrder()
    {
        var tag = CliFixture.NewDagId("cli-page");
        var expected = Enumerable.Range(0, 12).Select(i => $"{tag}-{i:D2}").ToList();
        foreach (var (id, i) in expected.Select((id, i) => (id, i)))
        {
            await ApplyAsync(id, tag, i % 3 == 0 ? "triple" : "other");
        }

        var all = Ids(await fixture.RunAsync("dags", "list", "--tag", tag, "--page-size", "5", "--json"), "dagId");
        var limited = Ids(await fixture.RunAsync("dags", "list", "--tag", tag, "--page-size", "5", "--limit", "7", "--json"), "dagId");
        var owned = Ids(await fixture.RunAsync("dags", "list", "--tag", tag, "--owner", "triple", "--page-size", "2", "--json"), "dagId");
        var searched = Ids(await fixture.RunAsync("dags", "list", "-q", tag.ToUpperInvariant() + "-1", "--paused", "false", "--state", "none", "--json"), "dagId");
        var table = await fixture.RunAsync("dags", "list", "--tag", tag, "--page-size", "5");

        Assert.Equal(expected, all);
        Assert.Equal(expected[..7], limited);
        Assert.Equal([expected[0], expected[3], expected[6], expected[9]], owned);
        Assert.Equal([expected[10], expected[11]], searched);
        Assert.Equal(13, table.OutputLines.Length);
    }

    [Fact]
    public async Task RunsList_AllPages_NewestFirst()
    {
        var dagId = CliFixture.NewDagId("cli-runs");
        await ApplyAsync(dagId, dagId, "runs");
        using var http = fixture.Host.Http();
        for (var day = 1; day <= 7; day++)
        {
            using var response = await http.PostAsync($"/api/v1/dags/{dagId}/runs", new StringContent($"{{\"logical_date\": \"2026-06-{day:D2}T00:00:00Z\"}}", System.Text.Encoding.UTF8, "application/json"));
            response.EnsureSuccessStatusCode();
        }
        using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
        {
            while (Ids(await fixture.RunAsync("runs", "list", dagId, "--json"), "runId").Count < 7)
            {
                await Task.Delay(50, timeout.Token);
            }
        }

        var all = await fixture.RunAsync("runs", "list", dagId, "--all", "--page-size", "3", "--json");
        var five = await fixture.RunAsync("runs", "list", dagId, "--limit", "5", "--page-size", "2", "--json");

        using var json = JsonDocument.Parse(all.Output);
        Assert.Equal(["2026-06-07", "2026-06-06", "2026-06-05", "2026-06-04", "2026-06-03", "2026-06-02", "2026-06-01"],
            json.RootElement.EnumerateArray().Select(r => r.GetProperty("logicalDate").GetString()![..10]));
        Assert.Equal(Ids(all, "runId")[..5], Ids(five, "runId"));
    }
}
