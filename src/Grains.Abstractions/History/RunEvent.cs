namespace Batchyard.History;

/// <summary>
/// One fact of a run, appended once to the run's journal: the run was created, the run changed state, or a
/// task instance changed (with the attempt it touched). <see cref="Seq"/> counts from 1 within a run; the
/// journal is the history, and every list, page and live view is a projection of it.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record RunEvent
{
    [Id(0)] public required string DagId { get; init; }
    [Id(1)] public required string RunId { get; init; }
    [Id(2)] public long Seq { get; init; }
    [Id(3)] public required string Kind { get; init; }
    [Id(4)] public DateTimeOffset At { get; init; }
    /// <summary>The task instance the event is about; null for run-level events.</summary>
    [Id(5)] public string? TaskId { get; init; }
    /// <summary>The fact itself as JSON (camelCase, snake_case states, as the API writes them).</summary>
    [Id(6)] public required string Payload { get; init; }
}

/// <summary>The kinds of <see cref="RunEvent"/>.</summary>
public static class RunEventKinds
{
    /// <summary>The run exists: its logical date, params, type and task list.</summary>
    public const string RunCreated = "run_created";

    /// <summary>The run's own state changed (queued, running, an outcome).</summary>
    public const string RunState = "run_state";

    /// <summary>A task instance changed: its state, retry and deadline times, and the attempt it touched.</summary>
    public const string Task = "task";

    /// <summary>A mapped task expanded: the items its instances run over (task id is the mapped task's).</summary>
    public const string TaskMapped = "task_mapped";

    /// <summary>The run (task id null) or a task instance passed its deadline unfinished.</summary>
    public const string Late = "late";

    /// <summary>The <c>notify.on_late</c> notification of a <see cref="Late"/> event was handed over (it is owed until then).</summary>
    public const string LateNotified = "late_notified";

    /// <summary>A notification is owed (<c>handed: false</c>, with the whole request) or its grain has taken it (<c>handed: true</c>).</summary>
    public const string Notice = "notice";
}

/// <summary>
/// The append-only journal of every run. An append completes once its events are durable; appends from all
/// grains of a silo are grouped into few commits. Storage trouble never fails an append: it waits and is retried.
/// </summary>
public interface IRunJournal
{
    /// <summary>Appends events (any runs, each run's in sequence order); completes when they are durable.</summary>
    Task AppendAsync(IReadOnlyList<RunEvent> events, CancellationToken cancellationToken = default);

    /// <summary>Every event of one run, in sequence order.</summary>
    Task<IReadOnlyList<RunEvent>> ReadAsync(string dagId, string runId, CancellationToken cancellationToken = default);

    /// <summary>The sequence number of one run's last event (0 when it has none): whether it changed since a read.</summary>
    Task<long> LastSeqAsync(string dagId, string runId, CancellationToken cancellationToken = default);
}
