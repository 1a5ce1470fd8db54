using System.Text.Json.Serialization;

// Member names are the wire names (PascalCase), so no attribute is needed per property.
namespace Batchyard.Aws;

public sealed record SageMakerTag(string Key, string Value);

public sealed record ProcessingClusterConfig
{
    public required int InstanceCount { get; init; }
    public required string InstanceType { get; init; }
    public required int VolumeSizeInGB { get; init; }
}

public sealed record ProcessingResources
{
    public required ProcessingClusterConfig ClusterConfig { get; init; }
}

public sealed record AppSpecification
{
    public required string ImageUri { get; init; }
    public IReadOnlyList<string>? ContainerEntrypoint { get; init; }
    public IReadOnlyList<string>? ContainerArguments { get; init; }
}

public sealed record StoppingCondition
{
    public int? MaxRuntimeInSeconds { get; init; }
    /// <summary>Managed spot training: the longest the job may wait for spot capacity and run, in all (≥ MaxRuntimeInSeconds).</summary>
    public int? MaxWaitTimeInSeconds { get; init; }
}

public sealed record ProcessingS3Input
{
    public required string S3Uri { get; init; }
    public string? LocalPath { get; init; }
    public string S3DataType { get; init; } = "S3Prefix";
    public string? S3InputMode { get; init; } = "File";
}

public sealed record ProcessingInput
{
    public required string InputName { get; init; }
    public ProcessingS3Input? S3Input { get; init; }
}

public sealed record ProcessingS3Output
{
    public required string S3Uri { get; init; }
    public string? LocalPath { get; init; }
    public string S3UploadMode { get; init; } = "EndOfJob";
}

public sealed record ProcessingOutput
{
    public required string OutputName { get; init; }
    public ProcessingS3Output? S3Output { get; init; }
}

public sealed record ProcessingOutputConfig
{
    public required IReadOnlyList<ProcessingOutput> Outputs { get; init; }
}

public sealed record CreateProcessingJobRequest
{
    public required string ProcessingJobName { get; init; }
    public required ProcessingResources ProcessingResources { get; init; }
    public required AppSpecification AppSpecification { get; init; }
    public required string RoleArn { get; init; }
    public StoppingCondition? StoppingCondition { get; init; }
    public IReadOnlyDictionary<string, string>? Environment { get; init; }
    public IReadOnlyList<ProcessingInput>? ProcessingInputs { get; init; }
    public ProcessingOutputConfig? ProcessingOutputConfig { get; init; }
    public IReadOnlyList<SageMakerTag>? Tags { get; init; }
}

public sealed record CreateProcessingJobResponse(string ProcessingJobArn);

public sealed record ProcessingJobNameRequest(string ProcessingJobName);

public sealed record DescribeProcessingJobResponse
{
    public required string ProcessingJobName { get; init; }
    public required string ProcessingJobArn { get; init; }
    /// <summary><c>InProgress | Completed | Failed | Stopping | Stopped</c>.</summary>
    public required string ProcessingJobStatus { get; init; }
    public string? FailureReason { get; init; }
    public string? ExitMessage { get; init; }
    [JsonConverter(typeof(EpochSecondsConverter))] public DateTimeOffset CreationTime { get; init; }
    [JsonConverter(typeof(NullableEpochSecondsConverter))] public DateTimeOffset? ProcessingStartTime { get; init; }
    [JsonConverter(typeof(NullableEpochSecondsConverter))] public DateTimeOffset? ProcessingEndTime { get; init; }
    [JsonConverter(typeof(NullableEpochSecondsConverter))] public DateTimeOffset? LastModifiedTime { get; init; }
    public ProcessingResources? ProcessingResources { get; init; }
    public StoppingCondition? StoppingCondition { get; init; }
    public AppSpecification? AppSpecification { get; init; }
    public IReadOnlyDictionary<string, string>? Environment { get; init; }
    public string? RoleArn { get; init; }
}

public sealed record StopJobResponse;

public sealed record ListProcessingJobsRequest
{
    public string? NameContains { get; init; }
    public string? StatusEquals { get; init; }
    public string? SortBy { get; init; }
    public string? SortOrder { get; init; }
    public string? NextToken { get; init; }
    public int? MaxResults { get; init; }
    [JsonConverter(typeof(NullableEpochSecondsConverter))] public DateTimeOffset? CreationTimeAfter { get; init; }
}

public sealed record ProcessingJobSummary
{
    public required string ProcessingJobName { get; init; }
    public required string ProcessingJobArn { get; init; }
    public required string ProcessingJobStatus { get; init; }
    [JsonConverter(typeof(EpochSecondsConverter))] public DateTimeOffset CreationTime { get; init; }
    [JsonConverter(typeof(NullableEpochSecondsConverter))] public DateTimeOffset? ProcessingEndTime { get; init; }
    public string? FailureReason { get; init; }
    public string? ExitMessage { get; init; }
}

public sealed record ListProcessingJobsResponse
{
    public IReadOnlyList<ProcessingJobSummary> ProcessingJobSummaries { get; init; } = [];
    public string? NextToken { get; init; }
}

public sealed record AlgorithmSpecification
{
    public string? TrainingImage { get; init; }
    public string TrainingInputMode { get; init; } = "File";
    public IReadOnlyList<string>? ContainerEntrypoint { get; init; }
    public IReadOnlyList<string>? ContainerArguments { get; init; }
}

public sealed record S3DataSource
{
    public string S3DataType { get; init; } = "S3Prefix";
    public required string S3Uri { get; init; }
    public string? S3DataDistributionType { get; init; } = "FullyReplicated";
}

public sealed record TrainingDataSource
{
    public S3DataSource? S3DataSource { get; init; }
}

public sealed record TrainingChannel
{
    public required string ChannelName { get; init; }
    public required TrainingDataSource DataSource { get; init; }
}

public sealed record OutputDataConfig
{
    public required string S3OutputPath { get; init; }
}

public sealed record ResourceConfig
{
    public required string InstanceType { get; init; }
    public required int InstanceCount { get; init; }
    public required int VolumeSizeInGB { get; init; }
    /// <summary>Warm pool: seconds the instances are kept after the job for a matching job (0–3600 as Batchyard asks).</summary>
    public int? KeepAlivePeriodInSeconds { get; init; }
}

public sealed record CheckpointConfig
{
    public required string S3Uri { get; init; }
    public string? LocalPath { get; init; }
}

/// <summary>A training job's warm pool, while it has one.</summary>
public sealed record WarmPoolStatus
{
    /// <summary><c>Available | Terminated | Reused | InUse</c>.</summary>
    public required string Status { get; init; }
    public int? ResourceRetainedBillableTimeInSeconds { get; init; }
    public string? ReusedByJob { get; init; }
}

public sealed record CreateTrainingJobRequest
{
    public required string TrainingJobName { get; init; }
    public required string RoleArn { get; init; }
    public required AlgorithmSpecification AlgorithmSpecification { get; init; }
    public required OutputDataConfig OutputDataConfig { get; init; }
    public required ResourceConfig ResourceConfig { get; init; }
    public required StoppingCondition StoppingCondition { get; init; }
    public bool? EnableManagedSpotTraining { get; init; }
    public CheckpointConfig? CheckpointConfig { get; init; }
    public IReadOnlyDictionary<string, string>? HyperParameters { get; init; }
    public IReadOnlyList<TrainingChannel>? InputDataConfig { get; init; }
    public IReadOnlyDictionary<string, string>? Environment { get; init; }
    public IReadOnlyList<SageMakerTag>? Tags { get; init; }
}

public sealed record CreateTrainingJobResponse(string TrainingJobArn);

public sealed record TrainingJobNameRequest(string TrainingJobName);

public sealed record SecondaryStatusTransition
{
    public required string Status { get; init; }
    [JsonConverter(typeof(EpochSecondsConverter))] public DateTimeOffset StartTime { get; init; }
    [JsonConverter(typeof(NullableEpochSecondsConverter))] public DateTimeOffset? EndTime { get; init; }
    public string? StatusMessage { get; init; }
}

public sealed record DescribeTrainingJobResponse
{
    public required string TrainingJobName { get; init; }
    public required string TrainingJobArn { get; init; }
    /// <summary><c>InProgress | Completed | Failed | Stopping | Stopped | Deleting</c>.</summary>
    public required string TrainingJobStatus { get; init; }
    public string? SecondaryStatus { get; init; }
    public string? FailureReason { get; init; }
    [JsonConverter(typeof(EpochSecondsConverter))] public DateTimeOffset CreationTime { get; init; }
    [JsonConverter(typeof(NullableEpochSecondsConverter))] public DateTimeOffset? TrainingStartTime { get; init; }
    [JsonConverter(typeof(NullableEpochSecondsConverter))] public DateTimeOffset? TrainingEndTime { get; init; }
    [JsonConverter(typeof(NullableEpochSecondsConverter))] public DateTimeOffset? LastModifiedTime { get; init; }
    public IReadOnlyList<SecondaryStatusTransition>? SecondaryStatusTransitions { get; init; }
    public int? TrainingTimeInSeconds { get; init; }
    public int? BillableTimeInSeconds { get; init; }
    public StoppingCondition? StoppingCondition { get; init; }
    /// <summary>What the job runs on, as Describe answers it (read for the attempt's cost).</summary>
    public DescribedResourceConfig? ResourceConfig { get; init; }
    public bool? EnableManagedSpotTraining { get; init; }
    public WarmPoolStatus? WarmPoolStatus { get; init; }
    /// <summary>The last value of each metric the algorithm emitted (at most 40).</summary>
    public IReadOnlyList<MetricData>? FinalMetricDataList { get; init; }
}

/// <summary>The part of a described <c>ResourceConfig</c> that the cost needs (Describe may leave out what Create required).</summary>
public sealed record DescribedResourceConfig
{
    public string? InstanceType { get; init; }
    public int? InstanceCount { get; init; }
}

public sealed record MetricData
{
    public string? MetricName { get; init; }
    /// <summary>A JSON 1.1 float: a number, or the strings <c>NaN</c>, <c>Infinity</c>, <c>-Infinity</c>.</summary>
    [JsonNumberHandling(JsonNumberHandling.AllowNamedFloatingPointLiterals)] public double? Value { get; init; }
    [JsonConverter(typeof(NullableEpochSecondsConverter))] public DateTimeOffset? Timestamp { get; init; }
}

/// <summary>Nullable form of <see cref="EpochSecondsConverter"/>.</summary>
public sealed class NullableEpochSecondsConverter : JsonConverter<DateTimeOffset?>
{
    private static readonly EpochSecondsConverter Inner = new();

    public override DateTimeOffset? Read(ref System.Text.Json.Utf8JsonReader reader, Type typeToConvert, System.Text.Json.JsonSerializerOptions options) =>
        reader.TokenType == System.Text.Json.JsonTokenType.Null ? null : Inner.Read(ref reader, typeof(DateTimeOffset), options);

    public override void Write(System.Text.Json.Utf8JsonWriter writer, DateTimeOffset? value, System.Text.Json.JsonSerializerOptions options)
    {
        if (value is null)
        {
            writer.WriteNullValue();
        }
        else
        {
            Inner.Write(writer, value.Value, options);
        }
    }
}
