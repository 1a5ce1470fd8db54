using System.Text.Json;
using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace Batchyard.Cluster.Tests;

/// <summary>Two real silos on one database and one DAGs folder: one silo loads it, the other takes over when that one dies.</summary>
public sealed partial class DagFolderLeaseTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const int Files = 40;
    private readonly SiloSet _silos = new("lease");

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync() => _silos.DisposeAsync().AsTask();

    [Fact]
    public async Task OneSiloLoadsTheFolder_TheOtherFollows_AndTakesOverWhenTheHolderIsKilled()
    {
        var server = await TestPostgres.SharedAsync();
        var dags = Directory.CreateDirectory(Path.Combine(_silos.Folder, "dags")).FullName;
        for (var i = 0; i < Files; i++)
        {
            await File.WriteAllTextAsync(Path.Combine(dags, $"d{i:D3}.yaml"), Dag($"d{i:D3}", "first"));
        }
        var settings = SiloProcess.Settings(await server.CreateDatabaseAsync(), dags);
        var a = _silos.Start("silo-a", settings);
        var b = _silos.Start("silo-b", settings);
        // Both are ready only with the folder loaded: the follower waits for the holder's first load.
        await Task.WhenAll(a.WaitReadyAsync(TimeSpan.FromSeconds(180)), b.WaitReadyAsync(TimeSpan.FromSeconds(180)));
        Assert.Equal(Files, (await DagIdsAsync(b)).Count);

        var holders = new[] { a, b }.Where(s => s.Output.Contains("this silo holds its lease", StringComparison.Ordinal)).ToList();
        Assert.Single(holders);
        var holder = holders[0];
        var follower = holder == a ? b : a;
        Assert.Contains("holds its lease and loads it", follower.Output, StringComparison.Ordinal);
        // Only the holder read the files.
        Assert.Equal(Files, Loaded().Matches(holder.Output).Count);
        Assert.Empty(Loaded().Matches(follower.Output));

        // A change and a deletion while both run: the holder applies them, the follower serves them.
        await File.WriteAllTextAsync(Path.Combine(dags, "d000.yaml"), Dag("d000", "second"));
        File.Delete(Path.Combine(dags, "d002.yaml"));
        await Wait.UntilAsync(async () => await DescriptionAsync(follower, "d000") == "second", TimeSpan.FromSeconds(30), "the holder to apply a changed file");
        await Wait.UntilAsync(async () => !(await DagIdsAsync(follower)).Contains("d002"), TimeSpan.FromSeconds(30), "the holder to remove a deleted file's DAG");
        Assert.Empty(Loaded().Matches(follower.Output));

        holder.KillHard();
        var killedAt = DateTimeOffset.UtcNow;
        var before = follower.Output.Length;
        await File.WriteAllTextAsync(Path.Combine(dags, "late.yaml"), Dag("late", "late"));
        await File.WriteAllTextAsync(Path.Combine(dags, "d001.yaml"), Dag("d001", "second"));

        // The survivor takes the lease (the holder stopped renewing, or the cluster declared it dead) and reads
        // the whole folder: the new file and the changed one are applied, once each.
        await Wait.UntilAsync(async () => (await DagIdsAsync(follower)).Contains("late"), TimeSpan.FromSeconds(120), "the survivor to take over the folder");
        output.WriteLine($"FIGURE the survivor loaded a file written after the holder was killed {(DateTimeOffset.UtcNow - killedAt).TotalSeconds:F1} s later");
        Assert.Contains("this silo holds its lease", follower.Output[before..], StringComparison.Ordinal);
        await Wait.UntilAsync(async () => await DescriptionAsync(follower, "d001") == "second", TimeSpan.FromSeconds(30), "the changed file to be applied");
        Assert.Equal(Files, (await DagIdsAsync(follower)).Count);
        Assert.Equal("second", await DescriptionAsync(follower, "d000"));
        // Every file is read again on the takeover; the DAGs the holder had applied are not written again (all
        // DAG grains live on the survivor now, so its log has every write).
        var after = follower.Output[before..];
        Assert.Equal(1, Written(after, "late"));
        Assert.Equal(1, Written(after, "d001"));
        Assert.Equal(0, Written(after, "d003"));
        Assert.Equal(Files, Loaded().Matches(after).Count);
    }

    private static string Dag(string id, string description) => $"""
        id: {id}
        description: {description}
        schedule: "0 3 * * *"
        tasks:
          only:
            backend: noop
        """;

    private static async Task<List<string>> DagIdsAsync(SiloProcess silo)
    {
        using var response = await silo.Api.GetAsync("/api/v1/dags");
        response.EnsureSuccessStatusCode();
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var items = json.RootElement.ValueKind == JsonValueKind.Array ? json.RootElement : json.RootElement.GetProperty("items");
        return [.. items.EnumerateArray().Select(d => d.GetProperty("dagId").GetString()!)];
    }

    private static async Task<string?> DescriptionAsync(SiloProcess silo, string dagId)
    {
        using var response = await silo.Api.GetAsync($"/api/v1/dags/{dagId}");
        response.EnsureSuccessStatusCode();
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return json.RootElement.GetProperty("description").GetString();
    }

    /// <summary>How many times the DAG grain wrote a new version of <paramref name="dagId"/> in this log (the grain's log line).</summary>
    private static int Written(string log, string dagId) => Regex.Matches(log, $@"\b{Regex.Escape(dagId)}: applied version").Count;

    [GeneratedRegex(@": loaded DAG \S+ \(")]
    private static partial Regex Loaded();
}
