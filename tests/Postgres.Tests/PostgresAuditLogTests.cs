using Batchyard.History;
using Batchyard.Silo.Storage.Postgres;

namespace Batchyard.Postgres.Tests;

public sealed class PostgresAuditLogTests(PostgresDatabase db) : IClassFixture<PostgresDatabase>, IAsyncLifetime
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 27, 9, 0, 0, TimeSpan.Zero);

    public Task InitializeAsync() => db.ApplySchemaAsync();

    public Task DisposeAsync() => Task.CompletedTask;

    private static AuditEntry Entry(int minute, string action, string? runId = null, string? taskId = null, string outcome = AuditOutcomes.Ok, int status = 200, string? detail = null) => new()
    {
        At = T0.AddMinutes(minute),
        KeyName = "ci",
        Action = action,
        DagId = "ml-pipeline",
        RunId = runId,
        TaskId = taskId,
        Outcome = outcome,
        Status = status,
        Detail = detail,
    };

    [Fact]
    public async Task ListAsync_NewestFirst_WithLimitAndBefore_AndDurableAcrossInstances()
    {
        var writer = new PostgresAuditLog(db.DataSource);
        await writer.AppendAsync(Entry(0, AuditActions.Apply, status: 201));
        await writer.AppendAsync(Entry(1, AuditActions.Trigger, "manual__1", status: 202));
        await writer.AppendAsync(Entry(2, AuditActions.Clear, "manual__1", "train", AuditOutcomes.Denied, 403, "the key 'ci' (viewer) may not do this"));

        // Another silo (another instance on the same database) reads what this one wrote.
        var reader = new PostgresAuditLog(db.DataSource);
        var newest = await reader.ListAsync(2, null);
        var older = await reader.ListAsync(10, newest[^1].At);

        Assert.Equal([AuditActions.Clear, AuditActions.Trigger], newest.Select(e => e.Action));
        Assert.True(newest[0].Id > newest[1].Id);
        var clear = newest[0];
        Assert.Equal(("ci", "ml-pipeline/manual__1/train", AuditOutcomes.Denied, 403, "the key 'ci' (viewer) may not do this"), (clear.KeyName, clear.Target, clear.Outcome, clear.Status, clear.Detail));
        Assert.Equal(T0.AddMinutes(2), clear.At);
        var apply = Assert.Single(older);
        Assert.Equal((AuditActions.Apply, "ml-pipeline", (string?)null, (string?)null, (string?)null, 201), (apply.Action, apply.Target, apply.RunId, apply.TaskId, apply.Detail, apply.Status));
    }

    [Fact]
    public async Task ABurstOfAppends_IsWrittenWhole_EachCallerAfterItsEntry()
    {
        var log = new PostgresAuditLog(db.DataSource);
        var before = await db.ScalarAsync<long>("SELECT count(*) FROM batchyard_audit");

        // 2,500 callers at once (more than one insert takes): each returns once its own entry is written.
        await Task.WhenAll(Enumerable.Range(0, 2500).Select(i => Task.Run(() => log.AppendAsync(
            Entry(100 + (i % 50), AuditActions.Trigger, $"burst__{i}", i % 2 == 0 ? null : "t", detail: i % 3 == 0 ? null : $"n{i}")))));

        Assert.Equal(before + 2500, await db.ScalarAsync<long>("SELECT count(*) FROM batchyard_audit"));
        Assert.Equal(2500L, await db.ScalarAsync<long>("SELECT count(DISTINCT run_id) FROM batchyard_audit WHERE run_id LIKE 'burst__%'"));
        Assert.Equal(1250L, await db.ScalarAsync<long>("SELECT count(*) FROM batchyard_audit WHERE run_id LIKE 'burst__%' AND task_id IS NULL"));
        var seven = Assert.Single(await new PostgresAuditLog(db.DataSource).ListAsync(3000, null), e => e.RunId == "burst__7");
        Assert.Equal(("t", "n7", T0.AddMinutes(107)), (seven.TaskId, seven.Detail, seven.At));
    }
}
