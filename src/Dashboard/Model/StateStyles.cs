using System.Text.Json;
using Batchyard.Runs;

namespace Batchyard.Dashboard.Model;

/// <summary>
/// One colour per state, shared by chips, graph nodes, grid cells and Gantt bars, so that a colour means the
/// same thing on every page.
/// </summary>
public static class StateStyles
{
    public const string Succeeded = "#2e7d32";
    public const string Failed = "#d32f2f";
    public const string Running = "#1976d2";
    public const string Queued = "#9e9e9e";
    public const string Pending = "#e0e0e0";
    public const string UpForRetry = "#f9a825";
    public const string UpstreamFailed = "#e65100";
    public const string Skipped = "#e91e63";
    public const string Cancelled = "#424242";
    public const string TimedOut = "#ad1457";
    public const string Submitted = "#64b5f6";

    public static string Color(TaskState state) => state switch
    {
        TaskState.Pending => Pending,
        TaskState.Queued => Queued,
        TaskState.Submitted => Submitted,
        TaskState.Running => Running,
        TaskState.Succeeded => Succeeded,
        TaskState.Failed => Failed,
        TaskState.UpForRetry => UpForRetry,
        TaskState.TimedOut => TimedOut,
        TaskState.Cancelled => Cancelled,
        TaskState.Skipped => Skipped,
        TaskState.UpstreamFailed => UpstreamFailed,
        _ => Pending,
    };

    public static string Color(RunState state) => state switch
    {
        RunState.Queued => Queued,
        RunState.Running => Running,
        RunState.Succeeded => Succeeded,
        RunState.Failed => Failed,
        RunState.Cancelled => Cancelled,
        _ => Pending,
    };

    public static string Color(AttemptState state) => state switch
    {
        AttemptState.Queued => Queued,
        AttemptState.Submitted => Submitted,
        AttemptState.Running => Running,
        AttemptState.Succeeded => Succeeded,
        AttemptState.Failed => Failed,
        AttemptState.TimedOut => TimedOut,
        AttemptState.Cancelled => Cancelled,
        _ => Pending,
    };

    /// <summary>Text colour readable on <see cref="Color(TaskState)"/>.</summary>
    public static string TextOn(string background) =>
        background is Pending or UpForRetry or Submitted ? "#212121" : "#ffffff";

    /// <summary>The API's name for a state (<c>up_for_retry</c>), shown on chips and in tooltips.</summary>
    public static string Name<T>(T state) where T : struct, Enum => JsonNamingPolicy.SnakeCaseLower.ConvertName(state.ToString());

    public static bool IsActive(TaskState state) => state is TaskState.Queued or TaskState.Submitted or TaskState.Running or TaskState.UpForRetry;
}
