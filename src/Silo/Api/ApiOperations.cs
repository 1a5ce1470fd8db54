using System.Collections.Immutable;
using System.Globalization;
using Batchyard.Backends;
using Batchyard.Dags;
using Batchyard.Grains;
using Batchyard.History;
using Batchyard.Logs;
using Batchyard.Runs;

namespace Batchyard.Silo.Api;

/// <summary>Why an API operation was refused; each transport renders it (problem+json, gRPC status).</summary>
public enum FailureKind
{
    NotFound,
    Conflict,
    BadRequest,
    InvalidDag,
}

/// <summary>A refused operation: what kind, a title, a sentence, and for a refused DAG every problem.</summary>
public sealed record Failure(FailureKind Kind, string Title, string Detail, ImmutableArray<string> Errors)
{
    public static Failure NotFound(string detail) => new(FailureKind.NotFound, "Not found", detail, []);

    public static Failure Conflict(string detail) => new(FailureKind.Conflict, "Conflict", detail, []);

    public static Failure BadRequest(string title, string detail) => new(FailureKind.BadRequest, title, detail, []);

    public static Failure InvalidDag(IEnumerable<string> errors) => new(FailureKind.InvalidDag, "Invalid DAG", "the DAG file was refused", [.. errors]);
}

/// <summary>An operation's value, or why there is none.</summary>
public readonly record struct Outcome<T>(T? Value, Failure? Failure)
{
    public static implicit operator Outcome<T>(T value) => new(value, null);

    public static implicit operator Outcome<T>(Failure failure) => new(default, failure);
}

/// <summary>
/// The operations of the API, shared by the HTTP routes and the gRPC service so that both check, parse and
/// refuse the same way; the transports only translate requests and results.
/// </summary>
public sealed class ApiOperations(IGrainFactory grains, BackendCatalog backends, IRunHistoryStore history, IAttemptLogStore logs, ReadRetry retry)
{
    public const int MaxLogChars = 256 * 1024;

    /// <summary>DAGs asked for without a page: every match, as before paging existed.</summary>
    public const int DefaultDagPage = 100;

    /// <summary>
    /// The DAGs matching <paramref name="filters"/> by id, from the registry's rows (no DAG grain is called): every
    /// match when neither <paramref name="limit"/> nor <paramref name="cursor"/> is given, else one page of
    /// <paramref name="limit"/> (100 by default) after <paramref name="cursor"/>.
    /// </summary>
    public async Task<Outcome<Page<DagListItem>>> ListDagsAsync(DagFilters filters, int? limit, string? cursor, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(filters);
        if (Cursors.CheckLimit(limit) is { } badLimit)
        {
            return badLimit;
        }
        string? after = null;
        if (!string.IsNullOrEmpty(cursor) && !Cursors.TryReadDag(cursor, out after))
        {
            return Cursors.InvalidCursor();
        }
        if (filters.ToQuery() is not { Value: { } query })
        {
            return filters.ToQuery().Failure!;
        }
        var paged = limit is not null || !string.IsNullOrEmpty(cursor);
        query = query with { After = after, Limit = paged ? limit ?? DefaultDagPage : null };
        var page = await Read(() => grains.GetGrain<IDagRegistryGrain>(0).QueryAsync(query), cancellationToken);
        return new Page<DagListItem>([.. page.Items.Select(DagListItem.From)], page.NextAfter is { } next ? Cursors.AfterDag(next) : null, page.Matching);
    }

    public Task<Outcome<DagView>> GetDagAsync(string dagId, CancellationToken cancellationToken = default) => Read<Outcome<DagView>>(async () =>
    {
        var dag = grains.GetGrain<IDagGrain>(dagId);
        if (await dag.GetAsync() is not { } info)
        {
            return Failure.NotFound($"DAG '{dagId}' does not exist");
        }
        if (info.Definition is not { } definition)
        {
            return new Failure(FailureKind.NotFound, "DAG not loaded", $"DAG '{dagId}' has no valid version: its file was refused", info.LoadErrors);
        }
        return DagView.From(info, definition, await dag.GetNextSlotsAsync(5));
    }, cancellationToken);

    /// <summary>Parses and applies a DAG file's text; <c>Created</c> tells whether the DAG is new.</summary>
    public async Task<Outcome<(DagView View, bool Created)>> ApplyDagAsync(string dagId, string text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return Failure.InvalidDag([$"{dagId}.yaml:1: the body is empty; send the DAG file as YAML or JSON"]);
        }

        var result = DagParser.Parse($"{dagId}.yaml", text, backends, dagId);
        if (result.Dag is not { } definition)
        {
            return Failure.InvalidDag(result.Problems.Select(p => p.ToString()));
        }
        if (definition.DagId != dagId)
        {
            return Failure.InvalidDag([$"{dagId}.yaml:1: the file's id '{definition.DagId}' does not match the URL's '{dagId}'"]);
        }

        var dag = grains.GetGrain<IDagGrain>(dagId);
        var existed = await dag.GetAsync() is { Definition: not null };
        var info = await dag.ApplyAsync(definition);
        return (DagView.From(info, definition, await dag.GetNextSlotsAsync(5)), !existed);
    }

    public async Task<Outcome<bool>> DeleteDagAsync(string dagId)
    {
        var dag = grains.GetGrain<IDagGrain>(dagId);
        if (await dag.GetAsync() is null)
        {
            return Failure.NotFound($"DAG '{dagId}' does not exist");
        }
        await dag.DeleteAsync();
        return true;
    }

    public async Task<Outcome<DagListItem>> SetPausedAsync(string dagId, bool paused)
    {
        var dag = grains.GetGrain<IDagGrain>(dagId);
        if (await dag.GetAsync() is not { Definition: not null })
        {
            return Failure.NotFound($"DAG '{dagId}' does not exist");
        }
        return DagListItem.From(await dag.SetPausedAsync(paused));
    }

    public async Task<Outcome<RunDetails>> TriggerAsync(string dagId, TriggerRequest request)
    {
        var dag = grains.GetGrain<IDagGrain>(dagId);
        if (await dag.GetAsync() is not { Definition: not null })
        {
            return Failure.NotFound($"DAG '{dagId}' does not exist");
        }
        return await dag.TriggerAsync(request);
    }

    /// <summary>
    /// A DAG's runs, newest first: <paramref name="limit"/> (25 by default) of them before <paramref name="before"/>
    /// and after <paramref name="cursor"/>, with the cursor of the next page when there may be more.
    /// </summary>
    public async Task<Outcome<Page<RunSummary>>> ListRunsAsync(string dagId, string? state, int? limit, DateTimeOffset? before, string? cursor, CancellationToken cancellationToken)
    {
        RunState? wanted = null;
        if (!string.IsNullOrEmpty(state))
        {
            if (!Json.TryParseEnum<RunState>(state, out var parsed))
            {
                return Failure.BadRequest("Invalid state", $"state must be one of: {string.Join(", ", Enum.GetValues<RunState>().Select(Json.EnumName))}");
            }
            wanted = parsed;
        }
        if (Cursors.CheckLimit(limit) is { } badLimit)
        {
            return badLimit;
        }
        RunPosition? after = null;
        if (!string.IsNullOrEmpty(cursor))
        {
            if (!Cursors.TryReadRun(cursor, out var position))
            {
                return Cursors.InvalidCursor();
            }
            after = position;
        }
        var size = limit ?? 25;
        // One more than the page: whether another page exists is known without a second query.
        var runs = await Read(() => history.ListRunsAsync(dagId, wanted, before, size + 1, after, cancellationToken), cancellationToken);
        return runs.Length > size
            ? new Page<RunSummary>(runs[..size], Cursors.AfterRun(RunPosition.Of(runs[size - 1])), null)
            : new Page<RunSummary>(runs, null, null);
    }

    public Task<Outcome<RunDetails>> GetRunAsync(string dagId, string runId, CancellationToken cancellationToken = default) =>
        Read<Outcome<RunDetails>>(async () => await Run(dagId, runId).GetAsync() is { } run ? run : RunNotFound(dagId, runId), cancellationToken);

    public async Task<Outcome<RunDetails>> CancelRunAsync(string dagId, string runId)
    {
        var grain = Run(dagId, runId);
        if (await grain.GetAsync() is not { } run)
        {
            return RunNotFound(dagId, runId);
        }
        if (run.State.IsFinal())
        {
            return Failure.Conflict($"run '{runId}' has already ended ({Json.EnumName(run.State)})");
        }
        return await grain.CancelAsync();
    }

    public async Task<Outcome<RunDetails>> ClearTaskAsync(string dagId, string runId, string taskId, int? mapIndex = null)
    {
        var grain = Run(dagId, runId);
        if (await grain.GetAsync() is not { } run)
        {
            return RunNotFound(dagId, runId);
        }
        if (FindTask(run, taskId, mapIndex) is not { } task)
        {
            return TaskNotFound(run, taskId, mapIndex);
        }
        if (run.State == RunState.Cancelled || run.State == RunState.Queued)
        {
            return Failure.Conflict($"run '{runId}' is {Json.EnumName(run.State)}; only a running or finished run can be cleared");
        }
        if (task.State == TaskState.Pending)
        {
            return Failure.Conflict($"task '{taskId}' has not started; there is nothing to clear");
        }
        return await grain.ClearTaskAsync(taskId, mapIndex);
    }

    /// <summary>
    /// The output (JSON text) of a task's latest successful attempt; for a mapped task without an index, the list
    /// of its instances' outputs (null where one has none), as templates see it.
    /// </summary>
    public Task<Outcome<string>> ReadOutputAsync(string dagId, string runId, string taskId, int? mapIndex, CancellationToken cancellationToken) =>
        Read(() => ReadOutputOnceAsync(dagId, runId, taskId, mapIndex), cancellationToken);

    private async Task<Outcome<string>> ReadOutputOnceAsync(string dagId, string runId, string taskId, int? mapIndex)
    {
        if (await Run(dagId, runId).GetAsync() is not { } run)
        {
            return RunNotFound(dagId, runId);
        }
        if (FindTask(run, taskId, mapIndex) is not { } task)
        {
            return TaskNotFound(run, taskId, mapIndex);
        }
        if (task.MapCount is not null)
        {
            var instances = run.Tasks.Where(t => t.TaskId == taskId && t.MapIndex is not null).OrderBy(t => t.MapIndex);
            return Outputs.List(instances.Select(i => Outputs.Latest(i.Attempts)));
        }
        return Outputs.Latest(task.Attempts) is { } output
            ? output
            : Failure.NotFound(task.Attempts.Any(a => a.State == AttemptState.Succeeded)
                ? $"task '{TaskKeys.Of(taskId, mapIndex)}' succeeded without writing an output"
                : $"task '{TaskKeys.Of(taskId, mapIndex)}' has no successful attempt yet ({Json.EnumName(task.State)})");
    }

    private static TaskInstanceDetails? FindTask(RunDetails run, string taskId, int? mapIndex) =>
        run.Tasks.FirstOrDefault(t => t.TaskId == taskId && t.MapIndex == mapIndex);

    private static Failure TaskNotFound(RunDetails run, string taskId, int? mapIndex)
    {
        if (mapIndex is { } index && run.Tasks.FirstOrDefault(t => t.TaskId == taskId && t.MapIndex is null) is { } parent)
        {
            return parent.MapCount is { } count
                ? Failure.NotFound($"task '{taskId}' has {count} instances (map_index 0 to {count - 1}); there is no {index}")
                : Failure.NotFound($"task '{taskId}' has no instances (it is not mapped, or has not expanded yet)");
        }
        return Failure.NotFound($"task '{taskId}' is not in run '{run.RunId}'");
    }

    /// <summary>A page of an attempt's log (the newest attempt when <paramref name="attempt"/> is null) from <paramref name="cursor"/>.</summary>
    public Task<Outcome<LogView>> ReadLogAsync(string dagId, string runId, string taskId, int? attempt, string? cursor, CancellationToken cancellationToken, int? mapIndex = null) =>
        Read(() => ReadLogOnceAsync(dagId, runId, taskId, mapIndex, attempt, cursor, cancellationToken), cancellationToken);

    private async Task<Outcome<LogView>> ReadLogOnceAsync(string dagId, string runId, string taskId, int? mapIndex, int? attempt, string? cursor, CancellationToken cancellationToken)
    {
        if (await Run(dagId, runId).GetAsync() is not { } run)
        {
            return RunNotFound(dagId, runId);
        }
        if (FindTask(run, taskId, mapIndex) is not { } task)
        {
            return TaskNotFound(run, taskId, mapIndex);
        }
        if (task.MapCount is { } count && task.Attempts.IsEmpty)
        {
            return Failure.NotFound($"task '{taskId}' is mapped: each of its {count} instances has its own log (pass map_index 0 to {count - 1})");
        }
        if (task.Attempts.IsEmpty)
        {
            return Failure.NotFound($"task '{taskId}' has made no attempt yet");
        }
        var number = attempt ?? task.Attempts[^1].Attempt;
        if (task.Attempts.FirstOrDefault(a => a.Attempt == number) is not { } details)
        {
            return Failure.NotFound($"task '{taskId}' has no attempt {number}");
        }
        long position = 0;
        if (!string.IsNullOrEmpty(cursor) && (!long.TryParse(cursor, NumberStyles.None, CultureInfo.InvariantCulture, out position) || position < 0))
        {
            return Failure.BadRequest("Invalid cursor", "cursor must be a value returned by an earlier call");
        }

        var key = TaskKeys.Of(taskId, mapIndex);
        var page = await logs.ReadAsync(dagId, runId, key, number, position, MaxLogChars, cancellationToken);
        // Complete once the attempt has ended and this page reached the end of what it wrote.
        var complete = details.State.IsFinal() && (await logs.ReadAsync(dagId, runId, key, number, page.NextCursor, 1, cancellationToken)).Text.Length == 0;
        return new LogView(page.Text, page.NextCursor.ToString(CultureInfo.InvariantCulture), complete, number);
    }

    /// <summary>
    /// The configured pools (<c>Batchyard:Pools:NAME</c>) by name, with their holders and line: all of them without
    /// <paramref name="limit"/> or <paramref name="cursor"/>, else a page (100 by default) after the cursor.
    /// </summary>
    public async Task<Outcome<Page<PoolInfo>>> ListPoolsAsync(IEnumerable<string> names, int? limit, string? cursor, CancellationToken cancellationToken = default)
    {
        if (Cursors.CheckLimit(limit) is { } badLimit)
        {
            return badLimit;
        }
        string? after = null;
        if (!string.IsNullOrEmpty(cursor) && !Cursors.TryReadPool(cursor, out after))
        {
            return Cursors.InvalidCursor();
        }
        var matching = names.Order(StringComparer.Ordinal).ToList();
        var rest = matching.Where(n => after is null || string.CompareOrdinal(n, after) > 0).ToList();
        var size = limit is null && after is null ? rest.Count : limit ?? DefaultDagPage;
        var page = rest.Take(size).ToList();
        var pools = await Read(() => Task.WhenAll(page.Select(name => grains.GetGrain<IPoolGrain>(name).GetAsync())), cancellationToken);
        return new Page<PoolInfo>([.. pools], rest.Count > page.Count ? Cursors.AfterPool(page[^1]) : null, matching.Count);
    }

    /// <summary>One pool; a pool that is not configured is unlimited.</summary>
    public Task<PoolInfo> GetPoolAsync(string name, CancellationToken cancellationToken = default) =>
        Read(() => grains.GetGrain<IPoolGrain>(name).GetAsync(), cancellationToken);

    /// <summary>A read, tried again through a short transient fault (it changes nothing); writes are never repeated.</summary>
    private Task<T> Read<T>(Func<Task<T>> read, CancellationToken cancellationToken) => retry.RunAsync(read, cancellationToken);

    private IDagRunGrain Run(string dagId, string runId) => grains.GetGrain<IDagRunGrain>(RunKeys.Run(dagId, runId));

    private static Failure RunNotFound(string dagId, string runId) => Failure.NotFound($"run '{runId}' of DAG '{dagId}' does not exist");
}
