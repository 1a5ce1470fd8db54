using System.Collections.Immutable;
using Batchyard.Dags;

namespace Batchyard.Dashboard.Model;

/// <summary>
/// A task placed in the drawing, or a group of sibling tasks drawn as one (<see cref="Members"/>: same layer,
/// same upstream and downstream tasks). <see cref="TaskId"/> is the group's first task in file order.
/// </summary>
public sealed record GraphNode(string TaskId, int Layer, int Row, double X, double Y, ImmutableArray<string> Members = default)
{
    /// <summary>The tasks this node stands for: itself, or every task of its group.</summary>
    public ImmutableArray<string> Tasks => Members.IsDefaultOrEmpty ? [TaskId] : Members;

    public bool IsGroup => Tasks.Length > 1;

    /// <summary>"w0 … w1999": a group's first and last task.</summary>
    public string Label => IsGroup ? $"{Tasks[0]} … {Tasks[^1]}" : TaskId;
}

/// <summary>An edge from an upstream task to a downstream one.</summary>
public sealed record GraphEdge(string From, string To);

/// <summary>
/// Layered drawing of a DAG, left to right: a task's layer is the longest path from a root to it, so every
/// edge points rightwards; within a layer tasks are ordered by their upstream tasks' rows to keep edges short.
/// A DAG of more than <see cref="CollapseAbove"/> tasks has its sibling tasks (same layer, same upstream and
/// downstream tasks, at least <see cref="MinGroup"/> of them) drawn as one node: a fan-out of 2,000 tasks is
/// one node with a bar of their states, not a drawing 130,000 pixels tall that takes seconds to render.
/// </summary>
public sealed record DagLayout(ImmutableArray<GraphNode> Nodes, ImmutableArray<GraphEdge> Edges, double Width, double Height)
{
    /// <summary>DAGs up to this many tasks are drawn task by task.</summary>
    public const int CollapseAbove = 100;

    /// <summary>The fewest sibling tasks drawn as a group.</summary>
    public const int MinGroup = 5;

    private Dictionary<string, GraphNode>? _byTask;

    public const double NodeWidth = 168;
    public const double NodeHeight = 44;
    public const double LayerGap = 72;
    public const double RowGap = 22;
    public const double Margin = 16;

    /// <summary>The node that draws <paramref name="taskId"/> (its group's, for a task in a group).</summary>
    public GraphNode? Find(string taskId) => (_byTask ??= Index()).GetValueOrDefault(taskId);

    private Dictionary<string, GraphNode> Index()
    {
        var index = new Dictionary<string, GraphNode>(StringComparer.Ordinal);
        foreach (var node in Nodes)
        {
            foreach (var task in node.Tasks)
            {
                index.TryAdd(task, node);
            }
        }
        return index;
    }

    public static DagLayout Compute(IReadOnlyList<TaskDefinition> tasks)
    {
        var known = tasks.Select(t => t.TaskId).ToHashSet(StringComparer.Ordinal);
        var upstream = tasks.ToDictionary(t => t.TaskId, t => t.Upstream.Where(known.Contains).Distinct().ToArray(), StringComparer.Ordinal);

        // Longest-path layering; the visiting set guards against a cycle (the parser refuses them, but a
        // drawing must never hang on bad input).
        var layers = new Dictionary<string, int>(StringComparer.Ordinal);
        var visiting = new HashSet<string>(StringComparer.Ordinal);
        int LayerOf(string id)
        {
            if (layers.TryGetValue(id, out var known))
            {
                return known;
            }
            if (!visiting.Add(id))
            {
                return 0;
            }
            var layer = upstream[id].Length == 0 ? 0 : upstream[id].Max(LayerOf) + 1;
            visiting.Remove(id);
            layers[id] = layer;
            return layer;
        }
        foreach (var task in tasks)
        {
            LayerOf(task.TaskId);
        }

        var fileOrder = tasks.Select((t, i) => (t.TaskId, i)).ToDictionary(p => p.TaskId, p => p.i, StringComparer.Ordinal);
        var units = Units(tasks, upstream, layers);
        // A unit's upstream units (a group's members share theirs), by the unit id each task belongs to.
        var unitOf = units.SelectMany(u => u.Select(t => (Task: t, Unit: u[0]))).ToDictionary(p => p.Task, p => p.Unit, StringComparer.Ordinal);
        var unitUpstream = units.ToDictionary(u => u[0], u => upstream[u[0]].Select(t => unitOf[t]).Distinct(StringComparer.Ordinal).ToArray(), StringComparer.Ordinal);
        var rows = new Dictionary<string, int>(StringComparer.Ordinal);
        var byLayer = units.GroupBy(u => layers[u[0]]).OrderBy(g => g.Key).ToArray();
        foreach (var group in byLayer)
        {
            var ordered = group
                .Select(u => (Id: u[0], Center: unitUpstream[u[0]].Length == 0 ? fileOrder[u[0]] : unitUpstream[u[0]].Average(up => rows.GetValueOrDefault(up))))
                .OrderBy(p => p.Center).ThenBy(p => fileOrder[p.Id])
                .ToArray();
            for (var i = 0; i < ordered.Length; i++)
            {
                rows[ordered[i].Id] = i;
            }
        }

        var tallest = byLayer.Length == 0 ? 0 : byLayer.Max(g => g.Count());
        var height = Margin * 2 + (tallest * NodeHeight) + (Math.Max(0, tallest - 1) * RowGap);
        var nodes = ImmutableArray.CreateBuilder<GraphNode>(units.Count);
        foreach (var group in byLayer)
        {
            var count = group.Count();
            // Each layer is centred vertically, so a fan-out reads as a fan and not as a staircase.
            var layerHeight = (count * NodeHeight) + ((count - 1) * RowGap);
            var top = (height - layerHeight) / 2;
            foreach (var unit in group.OrderBy(u => rows[u[0]]))
            {
                var row = rows[unit[0]];
                nodes.Add(new GraphNode(unit[0], group.Key, row, Margin + (group.Key * (NodeWidth + LayerGap)), top + (row * (NodeHeight + RowGap)), unit.Length > 1 ? [.. unit] : default));
            }
        }
        var edges = units.SelectMany(u => unitUpstream[u[0]].Select(up => new GraphEdge(up, u[0]))).ToImmutableArray();
        var width = byLayer.Length == 0 ? Margin * 2 : (Margin * 2) + (byLayer.Length * NodeWidth) + ((byLayer.Length - 1) * LayerGap);
        return new DagLayout(nodes.ToImmutable(), edges, width, height);
    }

    /// <summary>
    /// The units drawn, each a task or a group of siblings (its tasks in file order, the first names it); units
    /// in file order of their first task. Small DAGs have one unit per task.
    /// </summary>
    private static List<string[]> Units(IReadOnlyList<TaskDefinition> tasks, Dictionary<string, string[]> upstream, Dictionary<string, int> layers)
    {
        if (tasks.Count <= CollapseAbove)
        {
            return [.. tasks.Select(t => new[] { t.TaskId })];
        }
        var downstream = tasks.ToDictionary(t => t.TaskId, _ => new List<string>(), StringComparer.Ordinal);
        foreach (var task in tasks)
        {
            foreach (var up in upstream[task.TaskId])
            {
                downstream[up].Add(task.TaskId);
            }
        }
        string Key(string id) => string.Join('\u0001', [
            layers[id].ToString(System.Globalization.CultureInfo.InvariantCulture),
            string.Join('\u0002', upstream[id].Order(StringComparer.Ordinal)),
            string.Join('\u0002', downstream[id].Order(StringComparer.Ordinal))]);
        var keys = tasks.ToDictionary(t => t.TaskId, t => Key(t.TaskId), StringComparer.Ordinal);
        var siblings = tasks.GroupBy(t => keys[t.TaskId], StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Select(t => t.TaskId).ToArray(), StringComparer.Ordinal);
        var units = new List<string[]>();
        var placed = new HashSet<string>(StringComparer.Ordinal);
        foreach (var task in tasks)
        {
            if (placed.Contains(task.TaskId))
            {
                continue;
            }
            var group = siblings[keys[task.TaskId]];
            if (group.Length >= MinGroup)
            {
                units.Add(group);
                placed.UnionWith(group);
            }
            else
            {
                units.Add([task.TaskId]);
                placed.Add(task.TaskId);
            }
        }
        return units;
    }

    /// <summary>The nodes in drawing order (layer, then row): the rows of the grid view.</summary>
    public IEnumerable<GraphNode> Rows => Nodes.OrderBy(n => n.Layer).ThenBy(n => n.Row);

    /// <summary>Tasks in drawing order (layer, then row): the row order of the grid view.</summary>
    public IEnumerable<string> TaskOrder => Rows.SelectMany(n => n.Tasks);
}
