namespace Batchyard.Dags;

/// <summary>
/// The <c>flow</c> shorthand: <c>extract &gt;&gt; [train, evaluate] &gt;&gt; publish</c>. Each <c>&gt;&gt;</c> links
/// every task of the group on its left to every task of the group on its right.
/// </summary>
internal static class Flow
{
    /// <summary>The groups in order, or null and <paramref name="error"/> when the text is not a flow.</summary>
    public static List<List<string>>? Parse(string text, out string? error)
    {
        error = null;
        var groups = new List<List<string>>();
        foreach (var step in text.Split(">>"))
        {
            var group = ParseGroup(step.Trim(), out error);
            if (group is null)
            {
                return null;
            }
            groups.Add(group);
        }
        return groups;
    }

    private static List<string>? ParseGroup(string step, out string? error)
    {
        error = null;
        if (step.Length == 0)
        {
            error = "a '>>' has no task on one side";
            return null;
        }
        if (!step.StartsWith('['))
        {
            return IsName(step, out error) ? [step] : null;
        }
        if (!step.EndsWith(']'))
        {
            error = $"'{step}' opens '[' without closing it";
            return null;
        }

        var names = new List<string>();
        foreach (var part in step[1..^1].Split(','))
        {
            var name = part.Trim();
            if (name.Length == 0)
            {
                error = $"'{step}' has an empty entry";
                return null;
            }
            if (!IsName(name, out error))
            {
                return null;
            }
            names.Add(name);
        }
        return names;
    }

    private static bool IsName(string name, out string? error)
    {
        error = name.Any(c => char.IsWhiteSpace(c) || c is '[' or ']' or ',' or '>' or '<')
            ? $"'{name}' is not a task name (separate steps with '>>' and group tasks as [a, b])"
            : null;
        return error is null;
    }
}
