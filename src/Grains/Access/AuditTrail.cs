using Batchyard.History;
using Microsoft.Extensions.Logging;

namespace Batchyard.Access;

/// <summary>
/// Records the actions of callers in the <see cref="IAuditLog"/>, for the API and the dashboard alike. A log that
/// cannot take an entry never undoes or fails the action: the entry is reported as a warning instead.
/// </summary>
public sealed partial class AuditTrail(IAuditLog log, TimeProvider time, ILogger<AuditTrail> logger)
{
    /// <summary>Records that <paramref name="caller"/> attempted <paramref name="action"/> on the target, and how it ended.</summary>
    public async Task RecordAsync(Caller caller, string action, string dagId, string? runId, string? taskId, string outcome, int status, string? detail = null)
    {
        ArgumentNullException.ThrowIfNull(caller);
        var entry = new AuditEntry
        {
            At = time.GetUtcNow(),
            KeyName = caller.Name,
            Action = action,
            DagId = dagId,
            RunId = runId,
            TaskId = taskId,
            Outcome = outcome,
            Status = status,
            Detail = detail,
        };
        try
        {
            await log.AppendAsync(entry, CancellationToken.None);
        }
        catch (Exception ex)
        {
            // Whatever the storage throws, the action it records has happened and stays answered.
            LogNotRecorded(entry.KeyName, entry.Action, entry.Target, entry.Outcome, ex.Message);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Audit entry not recorded: {KeyName} {Action} {Target} {Outcome}: {Error}")]
    private partial void LogNotRecorded(string keyName, string action, string target, string outcome, string error);
}
