namespace Batchyard.Logs;

/// <summary>The log of one attempt, appended to while the job runs.</summary>
public interface IAttemptLog
{
    /// <summary>Appends text (usually whole lines, each ending in a newline).</summary>
    ValueTask AppendAsync(string text, CancellationToken cancellationToken = default);

    /// <summary>Characters already written; a backend that re-attaches uses it to avoid writing output twice.</summary>
    long Length { get; }
}

/// <summary>Where attempt logs live; read by the API and dashboard, written by backends.</summary>
public interface IAttemptLogStore
{
    /// <summary>Opens (creating when missing) the log of one attempt for appending; its <see cref="IAttemptLog.Length"/> is known once this completes.</summary>
    Task<IAttemptLog> OpenAsync(string dagId, string runId, string taskId, int attempt, CancellationToken cancellationToken = default);

    /// <summary>Reads from <paramref name="cursor"/> (0 at the start) at most <paramref name="maxChars"/> characters.</summary>
    Task<LogPage> ReadAsync(string dagId, string runId, string taskId, int attempt, long cursor, int maxChars, CancellationToken cancellationToken);
}

/// <summary>A piece of a log and where the next read starts.</summary>
public sealed record LogPage(string Text, long NextCursor);
