using System.Text.Json;
using System.Text.Json.Serialization;

namespace Batchyard.History;

/// <summary>How journal payloads and stored states are written: the same camelCase / snake_case as the API.</summary>
public static class JournalJson
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    /// <summary>The snake_case name of a state (<c>up_for_retry</c>), as stored in state columns.</summary>
    public static string StateName<TEnum>(TEnum state) where TEnum : struct, Enum =>
        JsonNamingPolicy.SnakeCaseLower.ConvertName(state.ToString());

    public static TEnum ParseState<TEnum>(string name) where TEnum : struct, Enum =>
        Enum.Parse<TEnum>(name.Replace("_", "", StringComparison.Ordinal), ignoreCase: true);
}
