using System.Text;

namespace Batchyard.Backends;

/// <summary>The backend-neutral job name of an attempt: readable, deterministic, safe as a file or cgroup name.</summary>
public static class JobNames
{
    /// <summary>
    /// <c>dag__run__task__attempt</c>; an instance of a mapped task is <c>task.index</c> (task ids never hold a
    /// '.', so no task's name can be an instance's).
    /// </summary>
    public static string For(string dagId, string runId, string taskId, int attempt, int? mapIndex = null)
    {
        var builder = new StringBuilder(dagId.Length + runId.Length + taskId.Length + 24);
        Append(builder, dagId).Append("__");
        Append(builder, runId).Append("__");
        Append(builder, taskId);
        if (mapIndex is { } index)
        {
            builder.Append('.').Append(index);
        }
        builder.Append("__").Append(attempt);
        return builder.ToString();
    }

    private static StringBuilder Append(StringBuilder builder, string part)
    {
        foreach (var c in part)
        {
            builder.Append(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '-');
        }
        return builder;
    }
}
