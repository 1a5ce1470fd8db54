using System.Text;

namespace Batchyard.Backends;

/// <summary>The backend-neutral job name of an attempt: readable, deterministic, safe as a file or cgroup name.</summary>
public static class JobNames
{
    public static string For(string dagId, string runId, string taskId, int attempt)
    {
        var builder = new StringBuilder(dagId.Length + runId.Length + taskId.Length + 16);
        Append(builder, dagId).Append("__");
        Append(builder, runId).Append("__");
        Append(builder, taskId).Append("__").Append(attempt);
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
