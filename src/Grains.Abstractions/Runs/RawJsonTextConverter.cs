using System.Text.Json;
using System.Text.Json.Serialization;

namespace Batchyard.Runs;

/// <summary>
/// A string that holds JSON text (a task's output), written as that JSON rather than as a quoted string, and
/// read back from any JSON value as its text.
/// </summary>
public sealed class RawJsonTextConverter : JsonConverter<string>
{
    public override bool HandleNull => false;

    public override string? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        using var document = JsonDocument.ParseValue(ref reader);
        return document.RootElement.ValueKind == JsonValueKind.Null ? null : document.RootElement.GetRawText();
    }

    public override void Write(Utf8JsonWriter writer, string value, JsonSerializerOptions options) => writer.WriteRawValue(value);
}
