using System.Collections.Immutable;
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Batchyard.Dags;

/// <summary>
/// The values a task attempt's templates are rendered with. <paramref name="Item"/> (JSON text) and
/// <paramref name="MapIndex"/> are set for an instance of a mapped task; <paramref name="Outputs"/> holds the
/// outputs (JSON text) of the upstream tasks the templates refer to; a mapped task's output is the JSON list
/// of its instances' outputs.
/// </summary>
public sealed record TemplateContext(
    string DagId,
    string RunId,
    string TaskId,
    int Attempt,
    DateTimeOffset LogicalDate,
    IReadOnlyDictionary<string, string> Params,
    string? Item = null,
    int? MapIndex = null,
    IReadOnlyDictionary<string, string>? Outputs = null,
    string? TriggeringDatasets = null);

/// <summary>What a task's templates may refer to, for the checks made when a DAG file is loaded.</summary>
public sealed record TemplateScope(string TaskId, bool Mapped, IReadOnlySet<string> Ancestors, IReadOnlySet<string> Tasks);

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
    public const string KnownVariables = "logical_date, run_id, dag_id, task_id, attempt, params.NAME, tasks.ID.output.PATH, triggering_datasets (a JSON list; triggering_datasets.0.name …), and in a mapped task item, item.KEY and map_index";

    private const string ParamsPrefix = "params.";
    private const string TasksPrefix = "tasks.";

    [GeneratedRegex(@"\{\{\s*(.*?)\s*\}\}")]
    private static partial Regex Placeholder();

    [GeneratedRegex(@"^params\.[A-Za-z0-9_-]+$")]
    private static partial Regex ParamName();

    // tasks.ID.output, optionally followed by a path of keys (or list indexes) into the output object.
    [GeneratedRegex(@"^tasks\.([A-Za-z0-9_-]{1,63})\.output((?:\.[A-Za-z0-9_-]+)*)$")]
    private static partial Regex OutputReference();

    [GeneratedRegex(@"^item((?:\.[A-Za-z0-9_-]+)*)$")]
    private static partial Regex ItemReference();

    // triggering_datasets, optionally followed by a path into the list of {name, seq, at, source}.
    [GeneratedRegex(@"^triggering_datasets((?:\.[A-Za-z0-9_-]+)*)$")]
    private static partial Regex TriggeringReference();

    public static string Render(string text, TemplateContext context)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(context);
        return Placeholder().Replace(text, match => Value(match.Groups[1].Value, context));
    }

    /// <summary>The value of one variable (the text between <c>{{</c> and <c>}}</c>), as a template renders it.</summary>
    public static string Variable(string name, TemplateContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return Value(name.Trim(), context);
    }

    /// <summary>The variables (trimmed) in <paramref name="text"/>, in order.</summary>
    public static IEnumerable<string> Variables(string text) =>
        Placeholder().Matches(text).Select(m => m.Groups[1].Value);

    /// <summary>The task ids whose outputs <paramref name="text"/> refers to.</summary>
    public static IEnumerable<string> OutputTasks(string text) =>
        Variables(text).Select(v => OutputReference().Match(v)).Where(m => m.Success).Select(m => m.Groups[1].Value);

    public static TaskDefinition RenderTask(TaskDefinition task, TemplateContext context)
    {
        ArgumentNullException.ThrowIfNull(task);
        return task with
        {
            Command = [.. task.Command.Select(part => Render(part, context))],
            Args = [.. task.Args.Select(part => Render(part, context))],
            Env = task.Env.ToImmutableDictionary(pair => pair.Key, pair => Render(pair.Value, context), task.Env.KeyComparer),
            OutputJson = task.OutputJson is { } outputJson ? Render(outputJson, context) : null,
        };
    }

    /// <summary>What is wrong with the variables in <paramref name="text"/> for a task (used at load time).</summary>
    internal static IEnumerable<string> Problems(string text, TemplateScope scope)
    {
        foreach (var name in Variables(text))
        {
            if (Problem(name, scope) is { } problem)
            {
                yield return problem;
            }
        }
    }

    /// <summary>Why no run of this task could give <paramref name="name"/> a value; null when it can.</summary>
    internal static string? Problem(string name, TemplateScope scope)
    {
        if (name is "logical_date" or "run_id" or "dag_id" or "task_id" or "attempt" || ParamName().IsMatch(name) || TriggeringReference().IsMatch(name))
        {
            return null;
        }
        if (name == "map_index" || ItemReference().IsMatch(name))
        {
            return scope.Mapped ? null : $"'{{{{ {name} }}}}' is only known in a mapped task (one with 'map:')";
        }
        if (OutputReference().Match(name) is { Success: true } output)
        {
            var task = output.Groups[1].Value;
            return !scope.Tasks.Contains(task) ? $"'{{{{ {name} }}}}' refers to unknown task '{task}'{Suggestions.DidYouMean(task, scope.Tasks)}"
                : !scope.Ancestors.Contains(task) ? $"'{{{{ {name} }}}}' refers to task '{task}', which is not upstream of '{scope.TaskId}' (its output would not exist yet)"
                : null;
        }
        if (name.StartsWith(TasksPrefix, StringComparison.Ordinal))
        {
            return $"bad task reference '{{{{ {name} }}}}' (use tasks.ID.output or tasks.ID.output.KEY)";
        }
        return $"unknown template variable '{name}' (known: {KnownVariables})";
    }

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
            case "map_index":
                return context.MapIndex?.ToString(CultureInfo.InvariantCulture)
                    ?? throw new TemplateException("'{{ map_index }}' is only known in a mapped task");
        }

        if (ItemReference().Match(name) is { Success: true } item)
        {
            return context.Item is { } json
                ? Json(json, item.Groups[1].Value, "{{ item }}")
                : throw new TemplateException($"'{{{{ {name} }}}}' is only known in a mapped task");
        }
        if (TriggeringReference().Match(name) is { Success: true } triggering)
        {
            // Any run may name it: a run that no dataset started has an empty list.
            return Json(context.TriggeringDatasets ?? "[]", triggering.Groups[1].Value, "{{ triggering_datasets }}");
        }
        if (OutputReference().Match(name) is { Success: true } output)
        {
            var task = output.Groups[1].Value;
            return context.Outputs?.TryGetValue(task, out var json) == true
                ? Json(json, output.Groups[2].Value, $"the output of task '{task}'")
                : throw new TemplateException($"task '{task}' has no output for '{{{{ {name} }}}}' (its job wrote none)");
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

    /// <summary>
    /// The value at <paramref name="path"/> (<c>.key.0.key</c>) in a JSON document, rendered: a string as its
    /// text, a number, boolean or null as written, an object or list as compact JSON.
    /// </summary>
    private static string Json(string json, string path, string what)
    {
        using var document = JsonDocument.Parse(json);
        var element = document.RootElement;
        var walked = "";
        foreach (var key in path.Split('.', StringSplitOptions.RemoveEmptyEntries))
        {
            walked += "." + key;
            if (element.ValueKind == JsonValueKind.Object && element.TryGetProperty(key, out var child))
            {
                element = child;
            }
            else if (element.ValueKind == JsonValueKind.Array && int.TryParse(key, NumberStyles.None, CultureInfo.InvariantCulture, out var index) && index < element.GetArrayLength())
            {
                element = element[index];
            }
            else
            {
                throw new TemplateException($"{what} has no '{walked[1..]}'");
            }
        }
        return element.ValueKind switch
        {
            JsonValueKind.String => element.GetString()!,
            JsonValueKind.Object or JsonValueKind.Array => JsonSerializer.Serialize(element),
            _ => element.GetRawText(),
        };
    }
}
