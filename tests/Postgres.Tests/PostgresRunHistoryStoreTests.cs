using System.Collections.Immutable;
using Batchyard.Runs;
using Batchyard.Silo.Storage.Postgres;
using Microsoft.Extensions.Time.Testing;

namespace Batchyard.Postgres.Tests;

public sealed class PostgresRunHistoryStoreTests(PostgresDatabase db) : IClassFixture<PostgresDatabase>, IAsyncLifetime
{
    private static readonly DateTimeOffset Day0 = new(2026, 11, 1, 3, 0, 0, TimeSpan.Zero);
    private readonly FakeTimeProvider _time = new(Day0);

    public Task InitializeAsync() => db.ApplySchemaAsync();

    public Task DisposeAsync() => Task.CompletedTask;

    [Fact]
    public async Task SaveRunAsync_ThenGetRunAsync_ReturnsTheSameSnapshotAndStoresAttempts()
    {
        var store = new PostgresRunHistoryStore(db.DataSource, _time);
        var run = Run("roundtrip", "r1", Day0, RunState.Running) with
        {
            Params = ImmutableDictionary<string, string>.Empty.Add("sample_rate", "0.1"),
            StartedAt = Day0.AddSeconds(1),
            Tasks =
            [
                new TaskInstanceDetails
                {
                    TaskId = "train",
                    State = TaskState.UpForRetry,
                    Backend = "local",
                    Upstream = ["extract"],
                    NextAttemptAt = Day0.AddMinutes(1),
                    Attempts =
                    [
                        new AttemptDetails
                        {
                            Attempt = 1, State = AttemptState.Failed, JobId = "job-1", Backend = "local",
                            QueuedAt = Day0, StartedAt = Day0.AddSeconds(2), EndedAt = Day0.AddSeconds(9),
                            ExitCode = 137, Reason = "OutOfMemory",
                            Details = ImmutableDictionary<string, string>.Empty.Add("oom_kills", "1"),
                        },
                    ],
                },
            ],
        };

        await store.SaveRunAsync(run);
        var read = await store.GetRunAsync("roundtrip", "r1");

        Assert.NotNull(read);
        Assert.Equal(Json(run), Json(read));
        Assert.Equal("up_for_retry", await db.ScalarAsync<string>("SELECT snapshot->'tasks'->0->>'state' FROM batchyard_runs WHERE dag_id = 'roundtrip'"));
        Assert.Equal(137, await db.ScalarAsync<int>("SELECT exit_code FROM batchyard_task_attempts WHERE dag_id = 'roundtrip' AND task_id = 'train' AND attempt = 1"));
        Assert.Null(await store.GetRunAsync("roundtrip", "missing"));
    }

    [Fact]
    public async Task SaveRunAsync_StateChanges_AppendOneEventPerTransition()
    {
        var store = new PostgresRunHistoryStore(db.DataSource, _time);
        var run = Run("events", "r1", Day0, RunState.Queued) with
        {
            Tasks = [new TaskInstanceDetails { TaskId = "a", State = TaskState.Pending }],
        };

        await store.SaveRunAsync(run);
        await store.SaveRunAsync(run);
        await store.SaveRunAsync(run with { State = RunState.Running, Tasks = [new TaskInstanceDetails { TaskId = "a", State = TaskState.Running }] });

        var events = new List<string>();
        await using var command = db.DataSource.CreateCommand(
            "SELECT coalesce(task_id, '-') || ':' || coalesce(from_state, '') || '>' || to_state FROM batchyard_state_changes WHERE dag_id = 'events' ORDER BY id");
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            events.Add(reader.GetString(0));
        }

        Assert.Equal(["-:>queued", "-:queued>running", "a:pending>running"], events);
    }

    [Fact]
    public async Task ListRunsAsync_PagesNewestFirstWithStateAndBefore()
    {
        var store = new PostgresRunHistoryStore(db.DataSource, _time);
        for (var i = 0; i < 10; i++)
        {
            await store.SaveRunAsync(Run("paging", $"run-{i:D2}", Day0.AddDays(i), i % 3 == 0 ? RunState.Failed : RunState.Succeeded));
        }

        await store.SaveRunAsync(Run("other-dag", "x", Day0.AddDays(20), RunState.Failed));

        var first = await store.ListRunsAsync("paging", null, null, 4);
        Assert.Equal(["run-09", "run-08", "run-07", "run-06"], first.Select(r => r.RunId));

        var next = await store.ListRunsAsync("paging", null, first[^1].LogicalDate, 4);
        Assert.Equal(["run-05", "run-04", "run-03", "run-02"], next.Select(r => r.RunId));

        var failed = await store.ListRunsAsync("paging", RunState.Failed, Day0.AddDays(9), 10);
        Assert.Equal(["run-06", "run-03", "run-00"], failed.Select(r => r.RunId));
        Assert.All(failed, r => Assert.Equal(RunState.Failed, r.State));

        Assert.Empty(await store.ListRunsAsync("paging", RunState.Running, null, 10));
    }

    private static RunDetails Run(string dagId, string runId, DateTimeOffset logicalDate, RunState state) => new()
    {
        DagId = dagId,
        RunId = runId,
        State = state,
        LogicalDate = logicalDate,
        QueuedAt = logicalDate,
        RunType = "scheduled",
        DagVersion = "v1",
    };

    private static string Json(RunDetails run) => System.Text.Json.JsonSerializer.Serialize(run);
}
