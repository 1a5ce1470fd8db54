using System.Collections.Immutable;
using System.Globalization;
using Batchyard.Access;
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
    /// <summary>The key's role or tags may not do this (HTTP 403, gRPC <c>PERMISSION_DENIED</c>).</summary>
    Forbidden,
    /// <summary>The request is larger than the configured limit (HTTP 413, gRPC <c>RESOURCE_EXHAUSTED</c>).</summary>
    TooLarge,
}

/// <summary>
/// A refused operation: what kind, a title, a sentence, and for a refused DAG every problem. <see cref="Denied"/>
/// marks a refusal because of the caller's key (a DAG of another team answers 404, as if it did not exist).
/// </summary>
public sealed record Failure(FailureKind Kind, string Title, string Detail, ImmutableArray<string> Errors, bool Denied = false)
{
    /// <summary>The HTTP status that answers this failure (gRPC calls record the same number in the audit log).</summary>
    public int Status => Kind switch
    {
        FailureKind.NotFound => StatusCodes.Status404NotFound,
        FailureKind.Conflict => StatusCodes.Status409Conflict,
        FailureKind.Forbidden => StatusCodes.Status403Forbidden,
        FailureKind.TooLarge => StatusCodes.Status413PayloadTooLarge,
        _ => StatusCodes.Status400BadRequest,
    };

    public static Failure NotFound(string detail) => new(FailureKind.NotFound, "Not found", detail, []);

    public static Failure Forbidden(string detail) => new(FailureKind.Forbidden, "Forbidden", detail, [], Denied: true);

    public static Failure TooLarge(string detail) => new(FailureKind.TooLarge, "Request too large", detail, []);

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
/// refuse the same way; the transports only translate requests and results. Every operation takes the
/// <see cref="Caller"/>: a key limited to tags sees only its DAGs (another team's DAG is not found), its role
/// decides what it may change, and every change, refused or not, is recorded in the <see cref="AuditTrail"/>.
/// </summary>
public sealed partial class ApiOperations(IGrainFactory grains, BackendCatalog backends, IRunHistoryStore history, IAttemptLogStore logs, ReadRetry retry, AuditTrail audit, IAuditLog auditLog, ApiLimits limits)
{
    public const int MaxLogChars = 256 * 1024;

    /// <summary>DAGs asked for without a page: every match, as before paging existed.</summary>
    public const int DefaultDagPage = 100;

    /// <summary>
    /// The DAGs matching <paramref name="filters"/> by id, from the registry's rows (no DAG grain is called), among those <paramref name="caller"/> may see: every
    /// match when neither <paramref name="limit"/> nor <paramref name="cursor"/> is given, else one page of
    /// <paramref name="limit"/> (100 by default) after <paramref name="cursor"/>.
    /// </summary>
    public async Task<Outcome<Page<DagListItem>>> ListDagsAsync(Caller caller, DagFilters filters, int? limit, string? cursor, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(caller);
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
        // A key limited to tags sees only its DAGs: the others are not in its pages or its counts.
        query = query with { After = after, Limit = paged ? limit ?? DefaultDagPage : null, VisibleTags = caller.IsTagLimited ? caller.Tags : [] };
        var page = await Read(() => grains.GetGrain<IDagRegistryGrain>(0).QueryAsync(query), cancellationToken);
        return new Page<DagListItem>([.. page.Items.Select(DagListItem.From)], page.NextAfter is { } next ? Cursors.AfterDag(next) : null, page.Matching);
    }

    public Task<Outcome<DagView>> GetDagAsync(Caller caller, string dagId, CancellationToken cancellationToken = default) => Read<Outcome<DagView>>(async () =>
    {
        var dag = grains.GetGrain<IDagGrain>(dagId);
        if (await dag.GetAsync() is not { } info || !caller.SeesDag(info))
        {
            return DagNotFound(caller, dagId);
        }
        if (info.Definition is not { } definition)
        {
            return new Failure(FailureKind.NotFound, "DAG not loaded", $"DAG '{dagId}' has no valid version: its file was refused", info.LoadErrors);
        }
        return DagView.From(info, definition, await dag.GetNextSlotsAsync(5));
    }, cancellationToken);

    /// <summary>Parses and applies a DAG file's text; <c>Created</c> tells whether the DAG is new.</summary>
    public Task<Outcome<(DagView View, bool Created)>> ApplyDagAsync(Caller caller, string dagId, string text) =>
        Audited<(DagView View, bool Created)>(caller, Permission.Apply, AuditActions.Apply, dagId, null, null, async () =>
        {
            if (System.Text.Encoding.UTF8.GetByteCount(text) > limits.MaxBodyBytes)
            {
                return Failure.TooLarge($"a DAG file may have at most {limits.MaxBodyBytes} bytes (Batchyard:Limits:MaxBodyBytes)");
            }
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
            var current = await dag.GetAsync();
            // A team's key may neither take over another team's DAG nor make one outside its own tags.
            if (current is not null && !caller.SeesDag(current))
            {
                return Failure.Forbidden($"DAG '{dagId}' exists and is not one of this key's DAGs (tags {string.Join(", ", caller.Tags)})");
            }
            if (!caller.MayApply(definition.Tags))
            {
                return Failure.Forbidden($"this key may apply only DAGs whose tags are all among {string.Join(", ", caller.Tags)}; the file has [{string.Join(", ", definition.Tags)}]");
            }
            var existed = current is { Definition: not null };
            var info = await dag.ApplyAsync(definition);
            return (DagView.From(info, definition, await dag.GetNextSlotsAsync(5)), !existed);
        }, applied => applied.Created ? StatusCodes.Status201Created : StatusCodes.Status200OK);

    public Task<Outcome<bool>> DeleteDagAsync(Caller caller, string dagId) =>
        Audited<bool>(caller, Permission.Apply, AuditActions.Delete, dagId, null, null, async () =>
        {
            var dag = grains.GetGrain<IDagGrain>(dagId);
            if (await dag.GetAsync() is not { } info || !caller.SeesDag(info))
            {
                return DagNotFound(caller, dagId);
            }
            await dag.DeleteAsync();
            return true;
        }, _ => StatusCodes.Status204NoContent);

    public Task<Outcome<DagListItem>> SetPausedAsync(Caller caller, string dagId, bool paused) =>
        Audited<DagListItem>(caller, Permission.Operate, paused ? AuditActions.Pause : AuditActions.Unpause, dagId, null, null, async () =>
        {
            var dag = grains.GetGrain<IDagGrain>(dagId);
            if (await dag.GetAsync() is not { Definition: not null } info || !caller.SeesDag(info))
            {
                return DagNotFound(caller, dagId);
            }
            return DagListItem.From(await dag.SetPausedAsync(paused));
        });

    public async Task<Outcome<RunDetails>> TriggerAsync(Caller caller, string dagId, TriggerRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        string? runId = null;
        return await Audited<RunDetails>(caller, Permission.Operate, AuditActions.Trigger, dagId, () => runId, null, async () =>
        {
            var dag = grains.GetGrain<IDagGrain>(dagId);
            if (await dag.GetAsync() is not { Definition: not null } info || !caller.SeesDag(info))
            {
                return DagNotFound(caller, dagId);
            }
            try
            {
                var run = await dag.TriggerAsync(request with { TriggeredBy = caller.Name });
                runId = run.RunId;
                return run;
            }
            catch (RunExistsException taken)
            {
                runId = taken.RunId;
                return Failure.Conflict(taken.Message);
            }
        }, _ => StatusCodes.Status202Accepted);
    }

    /// <summary>
    /// A DAG's runs, newest first: <paramref name="limit"/> (25 by default) of them before <paramref name="before"/>
    /// and after <paramref name="cursor"/>, with the cursor of the next page when there may be more.
    /// </summary>
    public async Task<Outcome<Page<RunSummary>>> ListRunsAsync(Caller caller, string dagId, string? state, int? limit, DateTimeOffset? before, string? cursor, CancellationToken cancellationToken)
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
        if (await HiddenAsync(caller, dagId, cancellationToken) is { } hidden)
        {
            return hidden;
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

    public Task<Outcome<RunDetails>> GetRunAsync(Caller caller, string dagId, string runId, CancellationToken cancellationToken = default) =>
        Read<Outcome<RunDetails>>(async () => await HiddenAsync(caller, dagId, cancellationToken) is { } hidden
            ? hidden
            : await Run(dagId, runId).GetAsync() is { } run ? run : RunNotFound(dagId, runId), cancellationToken);

    public Task<Outcome<RunDetails>> CancelRunAsync(Caller caller, string dagId, string runId) =>
        Audited<RunDetails>(caller, Permission.Operate, AuditActions.Cancel, dagId, () => runId, null, async () =>
        {
            var grain = Run(dagId, runId);
            if (await HiddenAsync(caller, dagId, default) is { } hidden)
            {
                return hidden;
            }
            if (await grain.GetAsync() is not { } run)
            {
                return RunNotFound(dagId, runId);
            }
            if (run.State.IsFinal())
            {
                return Failure.Conflict($"run '{runId}' has already ended ({Json.EnumName(run.State)})");
            }
            return await grain.CancelAsync();
        });

    public Task<Outcome<RunDetails>> ClearTaskAsync(Caller caller, string dagId, string runId, string taskId, int? mapIndex = null) =>
        Audited<RunDetails>(caller, Permission.Operate, AuditActions.Clear, dagId, () => runId, TaskKeys.Of(taskId, mapIndex), async () =>
        {
            if (await HiddenAsync(caller, dagId, default) is { } hidden)
            {
                return hidden;
            }
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
        });

    /// <summary>The audit log, newest first (admin keys only).</summary>
    public async Task<Outcome<ImmutableArray<AuditEntry>>> ListAuditAsync(Caller caller, int? limit, DateTimeOffset? before, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(caller);
        if (!caller.Allows(Permission.Audit))
        {
            return Forbidden(caller, Permission.Audit);
        }
        if (limit is < 1 or > 1000)
        {
            return Failure.BadRequest("Invalid limit", "limit must be between 1 and 1000");
        }
        return await Read(() => auditLog.ListAsync(limit ?? 50, before, cancellationToken), cancellationToken);
    }

    /// <summary>
    /// Runs a change for <paramref name="caller"/> when its role allows it, and records the attempt: <c>ok</c>,
    /// <c>denied</c> (its role or tags may not) or <c>error</c> with the status it answered. A call that throws
    /// (a fault on the way) is recorded as an error before it goes on to the transport.
    /// </summary>
    private async Task<Outcome<T>> Audited<T>(Caller caller, Permission needed, string action, string dagId, Func<string?>? runId, string? taskId, Func<Task<Outcome<T>>> change, Func<T, int>? okStatus = null)
    {
        ArgumentNullException.ThrowIfNull(caller);
        Outcome<T> outcome;
        if (!caller.Allows(needed))
        {
            outcome = Forbidden(caller, needed);
        }
        else
        {
            try
            {
                outcome = await change();
            }
            catch (Exception ex)
            {
                var status = TransientFaults.Cause(ex) is not null ? StatusCodes.Status503ServiceUnavailable : StatusCodes.Status500InternalServerError;
                await audit.RecordAsync(caller, action, dagId, runId?.Invoke(), taskId, AuditOutcomes.Error, status, ex.GetType().Name);
                throw;
            }
        }
        var (result, code) = outcome.Failure is { } failure
            ? (failure.Denied ? AuditOutcomes.Denied : AuditOutcomes.Error, failure.Status)
            : (AuditOutcomes.Ok, okStatus?.Invoke(outcome.Value!) ?? StatusCodes.Status200OK);
        await audit.RecordAsync(caller, action, dagId, runId?.Invoke(), taskId, result, code, outcome.Failure?.Detail);
        return outcome;
    }

    private static Failure Forbidden(Caller caller, Permission needed) =>
        Failure.Forbidden($"the key '{caller.Name}' ({caller.Role.Name()}) may not do this; it needs the role {needed.LeastRole().Name()}");

    /// <summary>
    /// Not found, for a tag-limited key, when the DAG is not one of its own (or is gone: its tags are then unknown);
    /// null when the caller may see it. Unlimited keys read the history of any DAG, deleted ones too.
    /// </summary>
    private async Task<Failure?> HiddenAsync(Caller caller, string dagId, CancellationToken cancellationToken)
    {
        if (!caller.IsTagLimited)
        {
            return null;
        }
        // Called inside reads (which are retried as a whole) and writes (which never are): no retry of its own.
        cancellationToken.ThrowIfCancellationRequested();
        var info = await grains.GetGrain<IDagGrain>(dagId).GetAsync();
        return info is not null && caller.SeesDag(info) ? null : DagNotFound(caller, dagId);
    }

    /// <summary>The same answer for a DAG that does not exist and for another team's, so that a key learns nothing of DAGs not its own.</summary>
    private static Failure DagNotFound(Caller caller, string dagId) =>
        Failure.NotFound($"DAG '{dagId}' does not exist") with { Denied = caller.IsTagLimited };

    /// <summary>
    /// The output (JSON text) of a task's latest successful attempt; for a mapped task without an index, the list
    /// of its instances' outputs (null where one has none), as templates see it.
    /// </summary>
    public Task<Outcome<string>> ReadOutputAsync(Caller caller, string dagId, string runId, string taskId, int? mapIndex, CancellationToken cancellationToken) =>
        Read(() => ReadOutputOnceAsync(caller, dagId, runId, taskId, mapIndex, cancellationToken), cancellationToken);

    private async Task<Outcome<string>> ReadOutputOnceAsync(Caller caller, string dagId, string runId, string taskId, int? mapIndex, CancellationToken cancellationToken)
    {
        if (await HiddenAsync(caller, dagId, cancellationToken) is { } hidden)
        {
            return hidden;
        }
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
    public Task<Outcome<LogView>> ReadLogAsync(Caller caller, string dagId, string runId, string taskId, int? attempt, string? cursor, CancellationToken cancellationToken, int? mapIndex = null) =>
        Read(() => ReadLogOnceAsync(caller, dagId, runId, taskId, mapIndex, attempt, cursor, cancellationToken), cancellationToken);

    private async Task<Outcome<LogView>> ReadLogOnceAsync(Caller caller, string dagId, string runId, string taskId, int? mapIndex, int? attempt, string? cursor, CancellationToken cancellationToken)
    {
        if (await HiddenAsync(caller, dagId, cancellationToken) is { } hidden)
        {
            return hidden;
        }
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
