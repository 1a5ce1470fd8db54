using System.Text.Json;
using System.Text.Json.Serialization;

namespace Batchyard.Silo.Storage.Postgres;

/// <summary>How run snapshots and state names are written to PostgreSQL: the same camelCase / snake_case as the API.</summary>
internal static class HistoryJson
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    /// <summary>The snake_case name of a state (<c>up_for_retry</c>), as stored in the state columns.</summary>
    public static string StateName<TEnum>(TEnum state) where TEnum : struct, Enum =>
        JsonNamingPolicy.SnakeCaseLower.ConvertName(state.ToString());

    public static TEnum ParseState<TEnum>(string name) where TEnum : struct, Enum =>
        Enum.Parse<TEnum>(name.Replace("_", "", StringComparison.Ordinal), ignoreCase: true);
}
