using System.Collections.Immutable;
using Batchyard.Dags;

namespace Batchyard.Dashboard.Model;

/// <summary>A task placed in the drawing.</summary>
public sealed record GraphNode(string TaskId, int Layer, int Row, double X, double Y);

/// <summary>An edge from an upstream task to a downstream one.</summary>
public sealed record GraphEdge(string From, string To);

/// <summary>
/// Layered drawing of a DAG, left to right: a task's layer is the longest path from a root to it, so every
/// edge points rightwards; within a layer tasks are ordered by their upstream tasks' rows to keep edges short.
/// </summary>
public sealed record DagLayout(ImmutableArray<GraphNode> Nodes, ImmutableArray<GraphEdge> Edges, double Width, double Height)
{
    public const double NodeWidth = 168;
    public const double NodeHeight = 44;
    public const double LayerGap = 72;
    public const double RowGap = 22;
    public const double Margin = 16;

    public GraphNode? Find(string taskId) => Nodes.FirstOrDefault(n => n.TaskId == taskId);

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
        var rows = new Dictionary<string, int>(StringComparer.Ordinal);
        var byLayer = tasks.GroupBy(t => layers[t.TaskId]).OrderBy(g => g.Key).ToArray();
        foreach (var group in byLayer)
        {
            var ordered = group
                .Select(t => (t.TaskId, Center: upstream[t.TaskId].Length == 0 ? fileOrder[t.TaskId] : upstream[t.TaskId].Average(u => rows.GetValueOrDefault(u))))
                .OrderBy(p => p.Center).ThenBy(p => fileOrder[p.TaskId])
                .ToArray();
            for (var i = 0; i < ordered.Length; i++)
            {
                rows[ordered[i].TaskId] = i;
            }
        }

        var tallest = byLayer.Length == 0 ? 0 : byLayer.Max(g => g.Count());
        var height = Margin * 2 + (tallest * NodeHeight) + (Math.Max(0, tallest - 1) * RowGap);
        var nodes = ImmutableArray.CreateBuilder<GraphNode>(tasks.Count);
        foreach (var group in byLayer)
        {
            var count = group.Count();
            // Each layer is centred vertically, so a fan-out reads as a fan and not as a staircase.
            var layerHeight = (count * NodeHeight) + ((count - 1) * RowGap);
            var top = (height - layerHeight) / 2;
            foreach (var task in group.OrderBy(t => rows[t.TaskId]))
            {
                var row = rows[task.TaskId];
                nodes.Add(new GraphNode(task.TaskId, group.Key, row, Margin + (group.Key * (NodeWidth + LayerGap)), top + (row * (NodeHeight + RowGap))));
            }
        }
        var edges = tasks.SelectMany(t => upstream[t.TaskId].Select(u => new GraphEdge(u, t.TaskId))).ToImmutableArray();
        var width = byLayer.Length == 0 ? Margin * 2 : (Margin * 2) + (byLayer.Length * NodeWidth) + ((byLayer.Length - 1) * LayerGap);
        return new DagLayout(nodes.ToImmutable(), edges, width, height);
    }

    /// <summary>Tasks in drawing order (layer, then row): the row order of the grid view.</summary>
    public IEnumerable<string> TaskOrder => Nodes.OrderBy(n => n.Layer).ThenBy(n => n.Row).Select(n => n.TaskId);
}
