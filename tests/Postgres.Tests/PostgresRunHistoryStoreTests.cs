using System.Collections.Immutable;
using Batchyard.History;
using Batchyard.Runs;
using Batchyard.Silo.Storage.Postgres;
using Microsoft.Extensions.Logging.Abstractions;

namespace Batchyard.Postgres.Tests;

/// <summary>Journal events as a run grain writes them, for the store tests.</summary>
internal static class JournalEvents
{
    public static readonly DateTimeOffset Day0 = new(2026, 11, 1, 3, 0, 0, TimeSpan.Zero);

    public static RunEvent Created(string dagId, string runId, DateTimeOffset logicalDate, long seq = 1, params string[] tasks) => new()
    {
        DagId = dagId,
        RunId = runId,
        Seq = seq,
        Kind = RunEventKinds.RunCreated,
        At = logicalDate,
        Payload = RunFactJson.Write(new RunCreatedFact(logicalDate, ImmutableDictionary<string, string>.Empty.Add("sample_rate", "0.1"), "scheduled", "v1", logicalDate,
            [.. tasks.Select((t, i) => new PlannedTask(t, i == 0 ? [] : [tasks[i - 1]], "local"))])),
    };

    public static RunEvent State(string dagId, string runId, long seq, RunState state, DateTimeOffset? started = null, DateTimeOffset? ended = null) => new()
    {
        DagId = dagId,
        RunId = runId,
        Seq = seq,
        Kind = RunEventKinds.RunState,
        At = Day0,
        Payload = RunFactJson.Write(new RunStateFact(state, started, ended)),
    };

    public static RunEvent Late(string dagId, string runId, long seq, string? taskId, DateTimeOffset deadline) => new()
    {
        DagId = dagId,
        RunId = runId,
        Seq = seq,
        Kind = RunEventKinds.Late,
        At = deadline,
        TaskId = taskId,
        Payload = RunFactJson.Write(new LateFact(deadline, taskId is null ? "queued" : "first_start")),
    };

    public static RunEvent Task(string dagId, string runId, long seq, string taskId, TaskState state, AttemptDetails? attempt, DateTimeOffset? nextAttemptAt = null) => new()
    {
        DagId = dagId,
        RunId = runId,
        Seq = seq,
        Kind = RunEventKinds.Task,
        At = Day0,
        TaskId = taskId,
        Payload = RunFactJson.Write(new TaskFact(state, 0, nextAttemptAt, null, [], attempt)),
    };
}

public sealed class PostgresRunJournalTests(PostgresDatabase db) : IClassFixture<PostgresDatabase>, IAsyncLifetime
{
    private static readonly DateTimeOffset Day0 = JournalEvents.Day0;
    private PostgresRunJournal _journal = null!;

    public async Task InitializeAsync()
    {
        await db.ApplySchemaAsync();
        _journal = new PostgresRunJournal(db.DataSource, new JournalOptions(), NullLogger<PostgresRunJournal>.Instance);
    }

    public async Task DisposeAsync() => await _journal.DisposeAsync();

    [Fact]
    public async Task RunDetails_AreFoldedAgainOnlyWhenTheJournalGrew()
    {
        var store = new PostgresRunHistoryStore(db.DataSource, _journal);
        await _journal.AppendAsync([
            JournalEvents.Created("cached", "r1", Day0, 1, "extract"),
            JournalEvents.State("cached", "r1", 2, RunState.Running, Day0.AddSeconds(1)),
        ]);
        Assert.Equal(2, await _journal.LastSeqAsync("cached", "r1"));
        Assert.Equal(0, await _journal.LastSeqAsync("cached", "none"));

        var first = await store.GetRunAsync("cached", "r1");
        var again = await store.GetRunAsync("cached", "r1");
        Assert.Same(first, again);

        // Another silo's append (any writer of the same table) makes the next read fold again.
        await _journal.AppendAsync([JournalEvents.State("cached", "r1", 3, RunState.Succeeded, Day0.AddSeconds(1), Day0.AddSeconds(5))]);
        var after = await store.GetRunAsync("cached", "r1");
        Assert.Equal(RunState.Running, first!.State);
        Assert.Equal(RunState.Succeeded, after!.State);
        Assert.Null(await store.GetRunAsync("cached", "none"));
    }

    [Fact]
    public async Task ARunsLateEvent_MarksItLateInListsAndDetails_AndATasksOnlyItsTask()
    {
        var store = new PostgresRunHistoryStore(db.DataSource, _journal);
        var memory = new MemoryRunJournal();
        IRunJournal[] journals = [_journal, memory];
        foreach (var journal in journals)
        {
            await journal.AppendAsync([
                JournalEvents.Created("late", "r1", Day0, 1, "slow"),
                JournalEvents.State("late", "r1", 2, RunState.Running, Day0),
                JournalEvents.Created("late", "r2", Day0.AddDays(1), 1, "slow"),
                JournalEvents.State("late", "r2", 2, RunState.Running, Day0.AddDays(1)),
                JournalEvents.Late("late", "r2", 3, "slow", Day0.AddDays(1).AddMinutes(30)),
            ]);
            await journal.AppendAsync([JournalEvents.Late("late", "r1", 3, null, Day0.AddHours(2)), JournalEvents.State("late", "r1", 4, RunState.Succeeded, Day0, Day0.AddHours(3))]);
        }
        IRunHistoryStore[] stores = [store, memory];
        foreach (var history in stores)
        {
            var listed = await history.ListRunsAsync("late", null, null, 10);
            Assert.Equal([("r2", false), ("r1", true)], listed.Select(r => (r.RunId, r.Late)));
            var r1 = (await history.GetRunAsync("late", "r1"))!;
            Assert.True(r1.Late);
            Assert.Equal(RunState.Succeeded, r1.State);
            Assert.False(r1.Tasks.Single().Late);
            var r2 = (await history.GetRunAsync("late", "r2"))!;
            Assert.False(r2.Late);
            Assert.True(r2.Tasks.Single().Late);
        }
    }

    [Fact]
    public async Task MemoryJournal_RunDetailsFollowAppendsThroughItsCache()
    {
        var memory = new MemoryRunJournal();
        await memory.AppendAsync([JournalEvents.Created("cached", "m1", Day0, 1, "extract"), JournalEvents.State("cached", "m1", 2, RunState.Running, Day0)]);
        var first = await memory.GetRunAsync("cached", "m1");
        Assert.Same(first, await memory.GetRunAsync("cached", "m1"));

        await memory.AppendAsync([JournalEvents.State("cached", "m1", 3, RunState.Failed, Day0, Day0.AddSeconds(3))]);

        Assert.Equal(RunState.Failed, (await memory.GetRunAsync("cached", "m1"))!.State);
        Assert.Equal(3, await memory.LastSeqAsync("cached", "m1"));
    }

    [Fact]
    public async Task DetailsCache_KeepsAtMostItsCapacityOfEntries_OldestOut()
    {
        var memory = new MemoryRunJournal();
        var cache = new RunDetailsCache(capacityEntries: 4);
        foreach (var run in new[] { "a", "b", "c" })
        {
            await memory.AppendAsync([JournalEvents.Created("small", run, Day0, 1, "only")]);
        }
        // Each run is 2 entries (its own and one task): two fit.
        await cache.GetAsync(memory, "small", "a");
        await cache.GetAsync(memory, "small", "b");
        await cache.GetAsync(memory, "small", "c");
        var hits = cache.Hits;
        await cache.GetAsync(memory, "small", "c");
        await cache.GetAsync(memory, "small", "b");
        Assert.Equal(hits + 2, cache.Hits);
        await cache.GetAsync(memory, "small", "a");
        Assert.Equal(hits + 2, cache.Hits);
    }

    [Fact]
    public async Task AppendedEvents_FoldBackIntoTheRunWithEveryAttempt()
    {
        var store = new PostgresRunHistoryStore(db.DataSource, _journal);
        var failed = new AttemptDetails
        {
            Attempt = 1, State = AttemptState.Failed, JobId = "job-1", Backend = "local",
            QueuedAt = Day0, StartedAt = Day0.AddSeconds(2), EndedAt = Day0.AddSeconds(9),
            ExitCode = 137, Reason = "OutOfMemory",
            Details = ImmutableDictionary<string, string>.Empty.Add("oom_kills", "1"),
        };
        await _journal.AppendAsync([
            JournalEvents.Created("roundtrip", "r1", Day0, 1, "extract", "train"),
            JournalEvents.State("roundtrip", "r1", 2, RunState.Running, Day0.AddSeconds(1)),
            JournalEvents.Task("roundtrip", "r1", 3, "train", TaskState.Queued, failed with { State = AttemptState.Queued, StartedAt = null, EndedAt = null, ExitCode = null, Reason = null, Details = ImmutableDictionary<string, string>.Empty }),
            JournalEvents.Task("roundtrip", "r1", 4, "train", TaskState.UpForRetry, failed, Day0.AddMinutes(1)),
        ]);

        var read = await store.GetRunAsync("roundtrip", "r1");

        Assert.NotNull(read);
        Assert.Equal(RunState.Running, read.State);
        Assert.Equal("0.1", read.Params["sample_rate"]);
        Assert.Equal(TaskState.Pending, read.Tasks[0].State);
        var train = read.Tasks[1];
        Assert.Equal((TaskState.UpForRetry, Day0.AddMinutes(1)), (train.State, train.NextAttemptAt));
        Assert.Equal(System.Text.Json.JsonSerializer.Serialize(failed), System.Text.Json.JsonSerializer.Serialize(Assert.Single(train.Attempts)));
        Assert.Equal("running", await db.ScalarAsync<string>("SELECT state FROM batchyard_runs WHERE dag_id = 'roundtrip' AND run_id = 'r1'"));
        Assert.Equal("up_for_retry", await db.ScalarAsync<string>("SELECT payload->>'state' FROM batchyard_journal WHERE dag_id = 'roundtrip' AND seq = 4"));
        Assert.Null(await store.GetRunAsync("roundtrip", "missing"));
    }

    [Fact]
    public async Task AttemptCosts_AreProjectedInTheJournalsCommit_SummedByDagTypeAndDay_AndNeverCountedTwice()
    {
        var store = new PostgresRunHistoryStore(db.DataSource, _journal);
        var memory = new MemoryRunJournal();
        var sep = new DateTimeOffset(2026, 9, 10, 8, 0, 0, TimeSpan.Zero);
        AttemptDetails Ended(int attempt, DateTimeOffset at, string type, decimal? usd, double seconds) => new()
        {
            Attempt = attempt, State = AttemptState.Succeeded, Backend = "sagemaker", QueuedAt = at.AddMinutes(-2), StartedAt = at.AddMinutes(-1), EndedAt = at,
            Cost = new AttemptCost { Usd = usd, ComputeSeconds = seconds, Basis = "test", InstanceType = type },
        };
        RunEvent[] events =
        [
            JournalEvents.Created("costly", "r1", sep, 1, "a", "b"),
            JournalEvents.Task("costly", "r1", 2, "a", TaskState.Running, Ended(1, sep, "ml.m5.xlarge", 0.10m, 60) with { State = AttemptState.Running, EndedAt = null, Cost = null }),
            JournalEvents.Task("costly", "r1", 3, "a", TaskState.UpForRetry, Ended(1, sep, "ml.m5.xlarge", 0.10m, 60)),
            JournalEvents.Task("costly", "r1", 4, "a", TaskState.Succeeded, Ended(2, sep.AddMinutes(5), "ml.m5.xlarge", 0.20m, 120)),
            // The same attempt written again (a stop owed, then done): its row is overwritten, not added.
            JournalEvents.Task("costly", "r1", 5, "a", TaskState.Succeeded, Ended(2, sep.AddMinutes(5), "ml.m5.xlarge", 0.20m, 120)),
            JournalEvents.Task("costly", "r1", 6, "b", TaskState.Failed, Ended(1, sep.AddDays(1), "ml.zz9.huge", null, 30)),
        ];
        await _journal.AppendAsync(events);
        await _journal.AppendAsync(events);
        await memory.AppendAsync(events);

        var cells = await store.SumCostsAsync(sep.AddDays(-1), sep.AddDays(2));
        var inMemory = await memory.SumCostsAsync(sep.AddDays(-1), sep.AddDays(2));
        var listed = Assert.Single(await store.ListRunsAsync("costly", null, null, 10));
        var folded = await store.GetRunAsync("costly", "r1");

        Assert.Equal(
            [new CostCell("costly", "ml.m5.xlarge", new DateOnly(2026, 9, 10), 0.30m, 180, 2, 0), new CostCell("costly", "ml.zz9.huge", new DateOnly(2026, 9, 11), 0m, 30, 1, 1)],
            cells.OrderBy(c => c.Day));
        Assert.Equal(cells.OrderBy(c => c.Day), inMemory.OrderBy(c => c.Day));
        Assert.Equal(3L, await db.ScalarAsync<long>("SELECT count(*) FROM batchyard_attempt_costs WHERE dag_id = 'costly'"));
        Assert.Equal(0.30m, listed.CostUsd);
        Assert.Equal(0.30m, Assert.Single(await memory.ListRunsAsync("costly", null, null, 10)).CostUsd);
        Assert.Equal(0.30m, folded!.CostUsd);
        Assert.Empty(await store.SumCostsAsync(sep.AddDays(2), sep.AddDays(3)));
    }

    [Fact]
    public async Task AnAppendRetriedAfterItLanded_WritesNothingTwice()
    {
        RunEvent[] events = [JournalEvents.Created("twice", "r1", Day0, 1, "a"), JournalEvents.State("twice", "r1", 2, RunState.Running, Day0)];

        await _journal.AppendAsync(events);
        await _journal.AppendAsync(events);

        Assert.Equal(2L, await db.ScalarAsync<long>("SELECT count(*) FROM batchyard_journal WHERE dag_id = 'twice'"));
        Assert.Equal(1L, await db.ScalarAsync<long>("SELECT count(*) FROM batchyard_runs WHERE dag_id = 'twice'"));
    }

    [Fact]
    public async Task ConcurrentAppends_ShareCommits()
    {
        var before = _journal.Commits;

        await Task.WhenAll(Enumerable.Range(0, 400).Select(i => _journal.AppendAsync([JournalEvents.Created("group", $"r{i:D3}", Day0.AddMinutes(i), 1, "a")])));

        Assert.Equal(400L, await db.ScalarAsync<long>("SELECT count(*) FROM batchyard_journal WHERE dag_id = 'group'"));
        Assert.True(_journal.Commits - before < 200, $"{_journal.Commits - before} commits for 400 appends");
    }

    [Fact]
    public async Task AnAppendWhileTheTableCannotBeWritten_WaitsAndLandsOnceItCan()
    {
        await using (var rename = db.DataSource.CreateCommand("ALTER TABLE batchyard_journal RENAME TO batchyard_journal_away"))
        {
            await rename.ExecuteNonQueryAsync();
        }
        var append = _journal.AppendAsync([JournalEvents.Created("fault", "r1", Day0, 1, "a")]);
        await Task.Delay(TimeSpan.FromSeconds(1.5));
        Assert.False(append.IsCompleted, "the append finished while its table was gone");

        await using (var back = db.DataSource.CreateCommand("ALTER TABLE batchyard_journal_away RENAME TO batchyard_journal"))
        {
            await back.ExecuteNonQueryAsync();
        }
        await append.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(1L, await db.ScalarAsync<long>("SELECT count(*) FROM batchyard_journal WHERE dag_id = 'fault'"));
    }

    [Fact]
    public async Task ListRunsAsync_PagesNewestFirstWithStateAndBefore()
    {
        var store = new PostgresRunHistoryStore(db.DataSource, _journal);
        for (var i = 0; i < 10; i++)
        {
            await _journal.AppendAsync([
                JournalEvents.Created("paging", $"run-{i:D2}", Day0.AddDays(i), 1, "a"),
                JournalEvents.State("paging", $"run-{i:D2}", 2, RunState.Running, Day0),
                JournalEvents.State("paging", $"run-{i:D2}", 3, i % 3 == 0 ? RunState.Failed : RunState.Succeeded, Day0, Day0),
            ]);
        }
        await _journal.AppendAsync([JournalEvents.Created("other-dag", "x", Day0.AddDays(20), 1, "a"), JournalEvents.State("other-dag", "x", 2, RunState.Running, Day0)]);

        var first = await store.ListRunsAsync("paging", null, null, 4);
        Assert.Equal(["run-09", "run-08", "run-07", "run-06"], first.Select(r => r.RunId));

        var next = await store.ListRunsAsync("paging", null, first[^1].LogicalDate, 4);
        Assert.Equal(["run-05", "run-04", "run-03", "run-02"], next.Select(r => r.RunId));

        var failed = await store.ListRunsAsync("paging", RunState.Failed, Day0.AddDays(9), 10);
        Assert.Equal(["run-06", "run-03", "run-00"], failed.Select(r => r.RunId));
        Assert.All(failed, r => Assert.Equal(RunState.Failed, r.State));

        Assert.Empty(await store.ListRunsAsync("paging", RunState.Running, null, 10));
        Assert.Contains(await store.ListRunningAsync(), r => r.DagId == "other-dag" && r.RunId == "x");
    }

    [Fact]
    public async Task ListRunsAsync_AfterAPosition_StartsStrictlyAfterItWithTheRunIdBreakingTies()
    {
        var store = new PostgresRunHistoryStore(db.DataSource, _journal);
        var memory = new MemoryRunJournal();
        // Two runs per logical date: a page may end between them.
        for (var i = 0; i < 8; i++)
        {
            RunEvent[] events = [JournalEvents.Created("ties", $"run-{i:D2}", Day0.AddDays(i / 2), 1, "a"), JournalEvents.State("ties", $"run-{i:D2}", 2, i == 4 ? RunState.Failed : RunState.Succeeded, Day0, Day0)];
            await _journal.AppendAsync(events);
            await memory.AppendAsync(events);
        }

        foreach (var history in new IRunHistoryStore[] { store, memory })
        {
            var pages = new List<string>();
            RunPosition? after = null;
            while (true)
            {
                var page = await history.ListRunsAsync("ties", null, null, 3, after);
                pages.AddRange(page.Select(r => r.RunId));
                if (page.Length < 3)
                {
                    break;
                }
                after = RunPosition.Of(page[^1]);
            }
            Assert.Equal(["run-07", "run-06", "run-05", "run-04", "run-03", "run-02", "run-01", "run-00"], pages);
            var withState = await history.ListRunsAsync("ties", RunState.Succeeded, Day0.AddDays(3), 10, new RunPosition(Day0.AddDays(2), "run-05"));
            Assert.Equal(["run-03", "run-02", "run-01", "run-00"], withState.Select(r => r.RunId));
        }
        Assert.DoesNotContain(await store.ListRunningAsync(), r => r.DagId == "paging");
    }
}

public sealed class MemoryRunJournalTests
{
    private static readonly DateTimeOffset Day0 = JournalEvents.Day0;

    [Fact]
    public async Task ConcurrentAppends_AreAllListedNewestFirstAndFoldBack()
    {
        var journal = new MemoryRunJournal();

        await Task.WhenAll(Enumerable.Range(0, 50).Select(i => Task.Run(() => journal.AppendAsync([
            JournalEvents.Created("d", $"r{i:D2}", Day0.AddHours(i), 1, "a"),
            JournalEvents.State("d", $"r{i:D2}", 2, i % 2 == 0 ? RunState.Succeeded : RunState.Failed, Day0, Day0),
        ]))));

        var all = await journal.ListRunsAsync("d", null, null, 100);
        Assert.Equal(50, all.Length);
        Assert.Equal("r49", all[0].RunId);
        var failedBefore = await journal.ListRunsAsync("d", RunState.Failed, Day0.AddHours(10), 2);
        Assert.Equal(["r09", "r07"], failedBefore.Select(r => r.RunId));
        Assert.Equal(RunState.Succeeded, (await journal.GetRunAsync("d", "r00"))!.State);
    }

    [Fact]
    public async Task AnAppendRepeated_IsKeptOnce()
    {
        var journal = new MemoryRunJournal();
        RunEvent[] events = [JournalEvents.Created("d", "r", Day0, 1, "a"), JournalEvents.Task("d", "r", 2, "a", TaskState.Queued, null)];

        await journal.AppendAsync(events);
        await journal.AppendAsync(events);

        Assert.Equal(2, (await journal.ReadAsync("d", "r")).Count);
    }
}
