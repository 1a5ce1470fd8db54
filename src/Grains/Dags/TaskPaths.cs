using System.Globalization;

namespace Batchyard.Dags;

/// <summary>
/// Finds the line of a task field named by a path such as <c>resources.instance_count</c>, <c>env.FOO</c> or
/// <c>inputs[0].s3_uri</c>, so that a backend's objection points at the line that caused it.
/// </summary>
internal static class TaskPaths
{
    /// <summary>
    /// The line of the deepest part of <paramref name="path"/> found in the task, or in the defaults when they go
    /// deeper (the value came from there); the task's own line when neither has it.
    /// </summary>
    public static int Line(string path, YamlMapping task, YamlMapping? defaults, int taskLine)
    {
        var segments = Split(path);
        var (ownDepth, ownLine) = Find(task, segments, 0);
        var (inheritedDepth, inheritedLine) = defaults is null ? (0, 0) : Find(defaults, segments, 0);
        if (ownDepth == 0 && inheritedDepth == 0)
        {
            return taskLine;
        }
        return inheritedDepth > ownDepth ? inheritedLine : ownLine;
    }

    private static List<string> Split(string path)
    {
        var segments = new List<string>();
        foreach (var part in path.Split('.'))
        {
            var bracket = part.IndexOf('[', StringComparison.Ordinal);
            segments.Add(bracket < 0 ? part : part[..bracket]);
            while (bracket >= 0)
            {
                var close = part.IndexOf(']', bracket);
                if (close < 0)
                {
                    break;
                }
                segments.Add(part[bracket..(close + 1)]);
                bracket = part.IndexOf('[', close);
            }
        }
        return segments.Where(s => s.Length > 0).ToList();
    }

    /// <summary>How many segments matched from <paramref name="index"/> on, and the line of the last match.</summary>
    private static (int Depth, int Line) Find(YamlNode node, List<string> segments, int index)
    {
        if (index >= segments.Count)
        {
            return (0, 0);
        }
        YamlNode? child = null;
        var used = 1;
        int line = 0;
        switch (node)
        {
            case YamlMapping mapping:
                // Env names may contain dots ("env.spark.executor.memory"): try the rest of the path as one key first.
                var rest = string.Join('.', segments.Skip(index));
                var entry = mapping.Find(rest);
                if (entry is not null)
                {
                    used = segments.Count - index;
                }
                else
                {
                    entry = mapping.Find(segments[index]);
                }
                child = entry?.Value;
                line = entry?.Key.Line ?? 0;
                break;
            case YamlSequence sequence when segments[index] is ['[', .. var digits, ']']
                && int.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out var position)
                && position < sequence.Items.Count:
                child = sequence.Items[position];
                line = child.Line;
                break;
        }
        if (child is null)
        {
            return (0, 0);
        }
        var (deeper, deeperLine) = Find(child, segments, index + used);
        return deeper > 0 ? (used + deeper, deeperLine) : (used, line);
    }
}
