using System.Text;
using System.Text.Json;

namespace Batchyard.Backends;

/// <summary>What a task's output must be: one JSON object of at most 64 KiB (UTF-8).</summary>
public static class TaskOutputs
{
    public const int MaxBytes = 64 * 1024;

    /// <summary>The environment variable naming the file a <c>local</c> job writes its output to.</summary>
    public const string EnvironmentVariable = "BATCHYARD_OUTPUT";

    /// <summary>Null when <paramref name="utf8"/> is a valid output; otherwise the reason the attempt fails with.</summary>
    public static string? Check(ReadOnlySpan<byte> utf8, string source)
    {
        if (utf8.Length > MaxBytes)
        {
            return TooLarge(source, utf8.Length);
        }
        try
        {
            var reader = new Utf8JsonReader(utf8, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Disallow });
            using var document = JsonDocument.ParseValue(ref reader);
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                return $"output is not a JSON object: {source} holds a JSON {document.RootElement.ValueKind.ToString().ToLowerInvariant()}";
            }
            return reader.Read() ? $"output is not JSON: {source} has text after its object" : null;
        }
        catch (JsonException ex)
        {
            return $"output is not JSON: {source}: {ex.Message}";
        }
    }

    /// <summary>
    /// The reason for an output over <see cref="MaxBytes"/>; <paramref name="bytes"/> is null when only a part was
    /// read and the whole size is not known.
    /// </summary>
    public static string TooLarge(string source, long? bytes) =>
        $"output too large: {source} holds {(bytes is { } size ? size.ToString(System.Globalization.CultureInfo.InvariantCulture) : $"more than {MaxBytes}")} bytes, the limit is {MaxBytes} (64 KiB)";

    /// <summary>The output as compact text (kept with the attempt), or the reason it is refused.</summary>
    public static (string? Output, string? Error) Read(ReadOnlySpan<byte> utf8, string source)
    {
        if (Check(utf8, source) is { } error)
        {
            return (null, error);
        }
        using var document = JsonDocument.Parse(utf8.ToArray());
        return (JsonSerializer.Serialize(document.RootElement), null);
    }

    public static (string? Output, string? Error) Read(string text, string source) => Read(Encoding.UTF8.GetBytes(text), source);
}
