using System.Collections.Immutable;
using System.Globalization;
using System.Text.RegularExpressions;

namespace Batchyard.Dags;

/// <summary>The values a task attempt's templates are rendered with.</summary>
public sealed record TemplateContext(
    string DagId,
    string RunId,
    string TaskId,
    int Attempt,
    DateTimeOffset LogicalDate,
    IReadOnlyDictionary<string, string> Params);

/// <summary>A template names a variable that does not exist, or a parameter that has no value.</summary>
public sealed class TemplateException : Exception
{
    public TemplateException()
    {
    }

    public TemplateException(string message)
        : base(message)
    {
    }

    public TemplateException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>
/// <c>{{ name }}</c> templates in a task's command, args and env. Deliberately tiny (no filters, no
/// expressions): a DAG file stays readable, and every variable can be checked when the file is loaded.
/// </summary>
public static partial class Templates
{
    /// <summary>The variables a template may use, as listed in messages.</summary>
    public const string KnownVariables = "logical_date, run_id, dag_id, task_id, attempt, params.NAME";

    private const string ParamsPrefix = "params.";

    [GeneratedRegex(@"\{\{\s*(.*?)\s*\}\}")]
    private static partial Regex Placeholder();

    [GeneratedRegex(@"^params\.[A-Za-z0-9_-]+$")]
    private static partial Regex ParamName();

    public static string Render(string text, TemplateContext context)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(context);
        return Placeholder().Replace(text, match => Value(match.Groups[1].Value, context));
    }

    public static TaskDefinition RenderTask(TaskDefinition task, TemplateContext context)
    {
        ArgumentNullException.ThrowIfNull(task);
        return task with
        {
            Command = [.. task.Command.Select(part => Render(part, context))],
            Args = [.. task.Args.Select(part => Render(part, context))],
            Env = task.Env.ToImmutableDictionary(pair => pair.Key, pair => Render(pair.Value, context), task.Env.KeyComparer),
        };
    }

    /// <summary>The variables in <paramref name="text"/> that no run could give a value (used at load time).</summary>
    internal static IEnumerable<string> UnknownVariables(string text)
    {
        foreach (Match match in Placeholder().Matches(text))
        {
            var name = match.Groups[1].Value;
            if (!IsKnown(name))
            {
                yield return name;
            }
        }
    }

    private static bool IsKnown(string name) =>
        name is "logical_date" or "run_id" or "dag_id" or "task_id" or "attempt" || ParamName().IsMatch(name);

    private static string Value(string name, TemplateContext context)
    {
        switch (name)
        {
            case "logical_date":
                return context.LogicalDate.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
            case "run_id":
                return context.RunId;
            case "dag_id":
                return context.DagId;
            case "task_id":
                return context.TaskId;
            case "attempt":
                return context.Attempt.ToString(CultureInfo.InvariantCulture);
        }

        if (ParamName().IsMatch(name))
        {
            var param = name[ParamsPrefix.Length..];
            return context.Params.TryGetValue(param, out var value)
                ? value
                : throw new TemplateException($"no value for parameter '{param}' in '{{{{ {name} }}}}': pass it when triggering the run or give it a default under 'params'");
        }
        throw new TemplateException($"unknown template variable '{name}' (known: {KnownVariables})");
    }
}
