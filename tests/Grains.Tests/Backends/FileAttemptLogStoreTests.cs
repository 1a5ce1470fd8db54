using Batchyard.Logs;

namespace Batchyard.Tests.Backends;

public sealed class FileAttemptLogStoreTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "batchyard-logs-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    [Fact]
    public async Task Open_NeverWritten_CreatesNothingUntilTheFirstAppend()
    {
        var store = new FileAttemptLogStore(_root);
        var log = await store.OpenAsync("dag", "run", "task", 1);
        Assert.Equal(0, await log.GetLengthAsync());
        Assert.False(Directory.Exists(_root));

        await log.AppendAsync("héllo\n");
        Assert.Equal(7, await log.GetLengthAsync());
        Assert.Equal("héllo\n", (await store.ReadAsync("dag", "run", "task", 1, 0, 100, CancellationToken.None)).Text);
    }

    [Fact]
    public async Task Open_ExistingLog_ContinuesAtItsLength()
    {
        var store = new FileAttemptLogStore(_root);
        await (await store.OpenAsync("dag", "run", "task", 2)).AppendAsync("abc");

        var appendedFirst = await store.OpenAsync("dag", "run", "task", 2);
        await appendedFirst.AppendAsync("def");
        Assert.Equal(6, await appendedFirst.GetLengthAsync());
        Assert.Equal(6, await (await store.OpenAsync("dag", "run", "task", 2)).GetLengthAsync());
        Assert.Equal("abcdef", (await store.ReadAsync("dag", "run", "task", 2, 0, 100, CancellationToken.None)).Text);
    }
}
