using Batchyard.Silo.Storage.Postgres;

namespace Batchyard.Postgres.Tests;

public sealed class PostgresAttemptLogStoreTests(PostgresDatabase db) : IClassFixture<PostgresDatabase>, IAsyncLifetime
{
    public Task InitializeAsync() => db.ApplySchemaAsync();

    public Task DisposeAsync() => Task.CompletedTask;

    [Fact]
    public async Task ReadAsync_WithCursor_FollowsAppendsAcrossChunks()
    {
        var store = new PostgresAttemptLogStore(db.DataSource);
        var log = await store.OpenAsync("dag", "run", "task", 1);
        await log.AppendAsync("line one\n");
        await log.AppendAsync("line two\n");

        var first = await store.ReadAsync("dag", "run", "task", 1, 0, 12, CancellationToken.None);
        Assert.Equal("line one\nlin", first.Text);
        Assert.Equal(12, first.NextCursor);

        var rest = await store.ReadAsync("dag", "run", "task", 1, first.NextCursor, 1000, CancellationToken.None);
        Assert.Equal("e two\n", rest.Text);

        var nothingYet = await store.ReadAsync("dag", "run", "task", 1, rest.NextCursor, 1000, CancellationToken.None);
        Assert.Equal("", nothingYet.Text);
        Assert.Equal(rest.NextCursor, nothingYet.NextCursor);

        await log.AppendAsync("line three\n");
        var more = await store.ReadAsync("dag", "run", "task", 1, nothingYet.NextCursor, 1000, CancellationToken.None);
        Assert.Equal("line three\n", more.Text);
    }

    [Fact]
    public async Task Open_ExistingLog_ContinuesAtItsLength()
    {
        var store = new PostgresAttemptLogStore(db.DataSource);
        await (await store.OpenAsync("dag", "reopen", "task", 2)).AppendAsync("abc");

        var reopened = await store.OpenAsync("dag", "reopen", "task", 2);
        Assert.Equal(3, await reopened.GetLengthAsync());
        await reopened.AppendAsync("def");
        Assert.Equal(6, await reopened.GetLengthAsync());

        // A reopened log that is appended to before anyone asks its length continues at its end, too.
        await (await store.OpenAsync("dag", "reopen", "task", 2)).AppendAsync("ghi");

        var page = await store.ReadAsync("dag", "reopen", "task", 2, 0, 100, CancellationToken.None);
        Assert.Equal("abcdefghi", page.Text);
        Assert.Equal("", (await store.ReadAsync("dag", "reopen", "task", 1, 0, 100, CancellationToken.None)).Text);
    }
}
