using Batchyard.History;
using Batchyard.Runs;

namespace Batchyard.Postgres.Tests;

public sealed class MemoryRunHistoryStoreTests
{
    private static readonly DateTimeOffset Day0 = new(2026, 11, 1, 0, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task ListRunsAsync_ConcurrentSaves_AllVisibleNewestFirst()
    {
        var store = new MemoryRunHistoryStore();

        await Task.WhenAll(Enumerable.Range(0, 50).Select(i => Task.Run(() => store.SaveRunAsync(new RunDetails
        {
            DagId = "d",
            RunId = $"r{i:D2}",
            LogicalDate = Day0.AddHours(i),
            State = i % 2 == 0 ? RunState.Succeeded : RunState.Failed,
        }))));

        var all = await store.ListRunsAsync("d", null, null, 100);
        Assert.Equal(50, all.Length);
        Assert.Equal("r49", all[0].RunId);
        var failedBefore = await store.ListRunsAsync("d", RunState.Failed, Day0.AddHours(10), 2);
        Assert.Equal(["r09", "r07"], failedBefore.Select(r => r.RunId));
        Assert.NotNull(await store.GetRunAsync("d", "r00"));
    }
}
