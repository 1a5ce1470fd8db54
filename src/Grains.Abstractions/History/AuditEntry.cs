using System.Collections.Immutable;

namespace Batchyard.History;

/// <summary>
/// One action that changes something (or an attempt at one that was refused): which key, what, on what, when,
/// and how it ended. <see cref="Outcome"/> is <c>ok</c>, <c>denied</c> (the key's role or tags may not) or
/// <c>error</c>; <see cref="Status"/> is the HTTP status the call answered (gRPC calls record the same number).
/// </summary>
[GenerateSerializer, Immutable]
public sealed record AuditEntry
{
    /// <summary>Increasing in the order entries were recorded (assigned by the log).</summary>
    [Id(0)] public long Id { get; init; }
    [Id(1)] public DateTimeOffset At { get; init; }
    /// <summary>The name of the key (never the key); <c>anonymous</c> on a server without keys.</summary>
    [Id(2)] public required string KeyName { get; init; }
    /// <summary><see cref="AuditActions"/>.</summary>
    [Id(3)] public required string Action { get; init; }
    [Id(4)] public required string DagId { get; init; }
    [Id(5)] public string? RunId { get; init; }
    [Id(6)] public string? TaskId { get; init; }
    [Id(7)] public required string Outcome { get; init; }
    [Id(8)] public int Status { get; init; }
    /// <summary>Why it was refused or failed, in a sentence; null when it succeeded.</summary>
    [Id(9)] public string? Detail { get; init; }

    /// <summary>The target as one path: <c>dag</c>, <c>dag/run</c> or <c>dag/run/task</c>.</summary>
    public string Target => string.Join('/', new[] { DagId, RunId, TaskId }.Where(p => p is not null));
}

/// <summary>The actions the audit log records.</summary>
public static class AuditActions
{
    public const string Apply = "apply";
    public const string Delete = "delete";
    public const string Pause = "pause";
    public const string Unpause = "unpause";
    public const string Trigger = "trigger";
    public const string Cancel = "cancel";
    public const string Clear = "clear";
    /// <summary>An external update of a dataset (target <c>dataset:NAME</c>, run: the update's sequence number).</summary>
    public const string DatasetEvent = "dataset_event";
    public const string Backfill = "backfill";
    public const string CancelBackfill = "cancel_backfill";
}

/// <summary>The outcomes of an <see cref="AuditEntry"/>.</summary>
public static class AuditOutcomes
{
    public const string Ok = "ok";
    public const string Denied = "denied";
    public const string Error = "error";
}

/// <summary>
/// Where audit entries go: durable in PostgreSQL mode, a bounded list in memory mode. Appending never fails
/// the action it records (an action that happened stays done); the log says when an entry could not be kept.
/// </summary>
public interface IAuditLog
{
    /// <summary>Records one entry (its <see cref="AuditEntry.Id"/> is assigned here).</summary>
    Task AppendAsync(AuditEntry entry, CancellationToken cancellationToken = default);

    /// <summary>Entries newest first, at most <paramref name="limit"/>, only those before <paramref name="before"/> (exclusive) when given.</summary>
    Task<ImmutableArray<AuditEntry>> ListAsync(int limit, DateTimeOffset? before, CancellationToken cancellationToken = default);
}
