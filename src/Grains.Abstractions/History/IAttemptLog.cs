namespace Batchyard.Logs;

/// <summary>The log of one attempt, appended to while the job runs.</summary>
public interface IAttemptLog
{
    /// <summary>Appends text (usually whole lines, each ending in a newline).</summary>
    ValueTask AppendAsync(string text, CancellationToken cancellationToken = default);

    /// <summary>
    /// Characters already written; a backend that re-attaches uses it to avoid writing output twice. A store may
    /// look it up on first use, so that a job that never logs costs no storage round trip.
    /// </summary>
    ValueTask<long> GetLengthAsync(CancellationToken cancellationToken = default);
}

/// <summary>Where attempt logs live; read by the API and dashboard, written by backends.</summary>
public interface IAttemptLogStore
{
    /// <summary>Opens (creating when missing) the log of one attempt for appending. Opening reads nothing: the log's length and end are looked up on its first use.</summary>
    Task<IAttemptLog> OpenAsync(string dagId, string runId, string taskId, int attempt, CancellationToken cancellationToken = default);

    /// <summary>Reads from <paramref name="cursor"/> (0 at the start) at most <paramref name="maxChars"/> characters.</summary>
    Task<LogPage> ReadAsync(string dagId, string runId, string taskId, int attempt, long cursor, int maxChars, CancellationToken cancellationToken);
}

/// <summary>A piece of a log and where the next read starts.</summary>
public sealed record LogPage(string Text, long NextCursor);
