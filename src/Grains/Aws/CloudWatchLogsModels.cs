using System.Text.Json.Serialization;

// Logs' wire names are camelCase; the client's serializer options say so once.
namespace Batchyard.Aws;

public sealed record DescribeLogStreamsRequest
{
    public required string LogGroupName { get; init; }
    public string? LogStreamNamePrefix { get; init; }
    public string? NextToken { get; init; }
    public int? Limit { get; init; }
}

public sealed record LogStream
{
    public required string LogStreamName { get; init; }
    [JsonConverter(typeof(NullableEpochMillisecondsConverter))] public DateTimeOffset? CreationTime { get; init; }
    [JsonConverter(typeof(NullableEpochMillisecondsConverter))] public DateTimeOffset? FirstEventTimestamp { get; init; }
    [JsonConverter(typeof(NullableEpochMillisecondsConverter))] public DateTimeOffset? LastEventTimestamp { get; init; }
}

public sealed record DescribeLogStreamsResponse
{
    public IReadOnlyList<LogStream> LogStreams { get; init; } = [];
    public string? NextToken { get; init; }
}

public sealed record GetLogEventsRequest
{
    public required string LogGroupName { get; init; }
    public required string LogStreamName { get; init; }
    public string? NextToken { get; init; }
    public bool? StartFromHead { get; init; }
    public int? Limit { get; init; }
}

public sealed record OutputLogEvent
{
    [JsonConverter(typeof(EpochMillisecondsConverter))] public DateTimeOffset Timestamp { get; init; }
    public string Message { get; init; } = "";
    [JsonConverter(typeof(NullableEpochMillisecondsConverter))] public DateTimeOffset? IngestionTime { get; init; }
}

public sealed record GetLogEventsResponse
{
    public IReadOnlyList<OutputLogEvent> Events { get; init; } = [];
    public string? NextForwardToken { get; init; }
    public string? NextBackwardToken { get; init; }
}

/// <summary>Nullable form of <see cref="EpochMillisecondsConverter"/>.</summary>
public sealed class NullableEpochMillisecondsConverter : JsonConverter<DateTimeOffset?>
{
    public override DateTimeOffset? Read(ref System.Text.Json.Utf8JsonReader reader, Type typeToConvert, System.Text.Json.JsonSerializerOptions options) =>
        reader.TokenType == System.Text.Json.JsonTokenType.Null ? null : DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64());

    public override void Write(System.Text.Json.Utf8JsonWriter writer, DateTimeOffset? value, System.Text.Json.JsonSerializerOptions options)
    {
        if (value is null)
        {
            writer.WriteNullValue();
        }
        else
        {
            writer.WriteNumberValue(value.Value.ToUnixTimeMilliseconds());
        }
    }
}
