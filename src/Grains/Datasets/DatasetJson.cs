using System.Collections.Immutable;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Batchyard.Datasets;

/// <summary>How updates are written as JSON for <c>{{ triggering_datasets }}</c>.</summary>
public static class DatasetJson
{
    /// <summary>A list of <c>{name, seq, at, source}</c>; source is <c>{dagId, runId, taskId}</c> or <c>{external: true, extra}</c>.</summary>
    public static string Triggering(ImmutableArray<DatasetUpdate> updates)
    {
        var list = new JsonArray();
        foreach (var update in updates)
        {
            list.Add(new JsonObject
            {
                ["name"] = update.Dataset,
                ["seq"] = update.Seq,
                ["at"] = update.At.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture),
                ["source"] = Source(update.Source),
            });
        }
        return list.ToJsonString();
    }

    private static JsonObject Source(DatasetSource source) => source.External
        ? new JsonObject { ["external"] = true, ["extra"] = source.Extra is { } extra ? JsonNode.Parse(extra) : null }
        : new JsonObject { ["dagId"] = source.DagId, ["runId"] = source.RunId, ["taskId"] = source.TaskId };
}
