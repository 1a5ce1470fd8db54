using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Batchyard.Backends.SageMaker;

/// <summary>
/// SageMaker job names: deterministic per (dag, run, task, map index, attempt), so a submission repeated after a crash
/// finds the job it already made. A readable prefix for the console, a short hash for uniqueness.
/// </summary>
public static class SageMakerJobNames
{
    public const int MaxLength = 63;
    private const int HashLength = 10;

    public static string For(JobRef job)
    {
        ArgumentNullException.ThrowIfNull(job);
        var identity = string.Join('\n', job.DagId, job.RunId, job.TaskId, job.Attempt.ToString(CultureInfo.InvariantCulture));
        if (job.MapIndex is { } index)
        {
            // Only mapped instances add their index, so the names of tasks that are not mapped stay as they were.
            identity += "\n" + index.ToString(CultureInfo.InvariantCulture);
        }
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(identity)))[..HashLength];
        var mapped = job.MapIndex is { } i ? $"-m{i.ToString(CultureInfo.InvariantCulture)}" : "";
        var suffix = $"{mapped}-a{job.Attempt.ToString(CultureInfo.InvariantCulture)}-{hash}";

        var readable = Sanitize(job.DagId) + "-" + Sanitize(job.TaskId);
        var room = MaxLength - suffix.Length;
        if (readable.Length > room)
        {
            readable = readable[..room];
        }
        readable = readable.Trim('-');
        return (readable.Length == 0 ? "job" : readable) + suffix;
    }

    /// <summary>Keeps letters and digits; anything else becomes one hyphen (names may not hold '_' or '.').</summary>
    private static string Sanitize(string text)
    {
        var builder = new StringBuilder(text.Length);
        foreach (var c in text)
        {
            if (char.IsAsciiLetterOrDigit(c))
            {
                builder.Append(c);
            }
            else if (builder.Length > 0 && builder[^1] != '-')
            {
                builder.Append('-');
            }
        }
        return builder.ToString().Trim('-');
    }
}
