using System.Text.Json;

namespace Batchyard.Tests;

/// <summary><c>datasets list|show NAME|event NAME</c> against a running host.</summary>
[Collection(CliCollection.Name)]
public sealed class DatasetsCliTests(CliFixture fixture)
{
    [Fact]
    public async Task Datasets_EventListAndShow()
    {
        var dagId = CliFixture.NewDagId("cli-ds");
        var dataset = "cli-" + dagId;
        await fixture.Host.ApplyAsync(dagId, $"id: {dagId}\non_datasets: [{dataset}]\ntasks:\n  only:\n    backend: noop\n");

        var bad = await fixture.RunAsync("datasets", "event", dataset, "--extra", "[1]");
        Assert.True(bad.ExitCode == 1, bad.ToString());
        var posted = await fixture.RunAsync("datasets", "event", dataset, "--extra", """{"file":"s3://bucket/a.csv"}""");
        Assert.True(posted.ExitCode == 0, posted.ToString());
        Assert.Equal($"dataset {dataset} updated (#1)", posted.OutputLines[0]);
        Assert.True((await fixture.RunAsync("datasets", "event", dataset)).ExitCode == 0);

        var list = await fixture.RunAsync("datasets", "list", "--page-size", "1", "--json");
        var row = Assert.Single(JsonDocument.Parse(list.Output).RootElement.EnumerateArray(), d => d.GetProperty("name").GetString() == dataset);
        Assert.Equal(dagId, Assert.Single(row.GetProperty("consumers").EnumerateArray()).GetString());
        var table = await fixture.RunAsync("datasets", "list");
        Assert.Contains(table.OutputLines, l => l.StartsWith(dataset, StringComparison.Ordinal) && l.Contains("event by", StringComparison.Ordinal));

        var show = await fixture.RunAsync("datasets", "show", dataset, "--json");
        var updates = JsonDocument.Parse(show.Output).RootElement.GetProperty("updates").EnumerateArray().Select(u => u.GetProperty("seq").GetInt64()).ToArray();
        Assert.Equal([2L, 1L], updates);
        var one = await fixture.RunAsync("datasets", "show", dataset, "--limit", "1");
        Assert.Contains(one.OutputLines, l => l.StartsWith("consumers", StringComparison.Ordinal) && l.EndsWith(dagId, StringComparison.Ordinal));
        Assert.Single(one.OutputLines, l => l.StartsWith('2') || l.StartsWith('1'));

        var missing = await fixture.RunAsync("datasets", "show", "never-named");
        Assert.True(missing.ExitCode == 1, missing.ToString());
    }
}
