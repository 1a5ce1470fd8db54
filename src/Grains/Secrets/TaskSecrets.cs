using System.Collections.Immutable;
using Batchyard.Dags;
using Batchyard.Logs;

namespace Batchyard.Secrets;

/// <summary>
/// <c>secret:NAME</c> env values. They stay in that form everywhere a task is stored or shown (DAG, grain state,
/// API); only the request handed to a backend at submit time carries the resolved values.
/// </summary>
public static class TaskSecrets
{
    public const string Prefix = "secret:";

    /// <summary>The secret's name when <paramref name="value"/> is a secret reference.</summary>
    public static bool TryGetName(string value, out string name)
    {
        ArgumentNullException.ThrowIfNull(value);
        name = value.StartsWith(Prefix, StringComparison.Ordinal) ? value[Prefix.Length..].Trim() : "";
        return name.Length > 0;
    }

    /// <summary>The task with every secret reference in its env replaced by its value; the first missing name otherwise.</summary>
    public static (TaskDefinition Task, string? Missing) Resolve(TaskDefinition task, ISecretResolver resolver)
    {
        ArgumentNullException.ThrowIfNull(task);
        ArgumentNullException.ThrowIfNull(resolver);
        var env = task.Env;
        foreach (var (key, value) in task.Env)
        {
            if (!TryGetName(value, out var name))
            {
                continue;
            }
            if (resolver.Resolve(name) is not { } secret)
            {
                return (task, name);
            }
            env = env.SetItem(key, secret);
        }
        return (env == task.Env ? task : task with { Env = env }, null);
    }

    /// <summary>The values of the secrets the task refers to (those that resolve), to mask in its logs.</summary>
    public static ImmutableArray<string> Values(TaskDefinition task, ISecretResolver resolver)
    {
        ArgumentNullException.ThrowIfNull(task);
        ArgumentNullException.ThrowIfNull(resolver);
        return [.. task.Env.Values
            .Select(v => TryGetName(v, out var name) ? resolver.Resolve(name) : null)
            .OfType<string>()
            .Distinct(StringComparer.Ordinal)
            // Longest first, so that a secret that contains another is masked whole.
            .OrderByDescending(v => v.Length)];
    }

    /// <summary>A log that writes <c>***</c> in place of any of <paramref name="secrets"/>.</summary>
    public static IAttemptLog Masking(IAttemptLog log, ImmutableArray<string> secrets) =>
        secrets.IsDefaultOrEmpty ? log : new MaskingAttemptLog(log, secrets);

    public static string Mask(string text, ImmutableArray<string> secrets)
    {
        ArgumentNullException.ThrowIfNull(text);
        foreach (var secret in secrets)
        {
            text = text.Replace(secret, "***", StringComparison.Ordinal);
        }
        return text;
    }

    private sealed class MaskingAttemptLog(IAttemptLog inner, ImmutableArray<string> secrets) : IAttemptLog
    {
        public ValueTask<long> GetLengthAsync(CancellationToken cancellationToken = default) => inner.GetLengthAsync(cancellationToken);

        // Backends append whole lines, so a value is masked unless a job splits it across two writes itself.
        public ValueTask AppendAsync(string text, CancellationToken cancellationToken = default) =>
            inner.AppendAsync(Mask(text, secrets), cancellationToken);
    }
}
