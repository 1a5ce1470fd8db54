using System.Text.Json;
using System.Text.Json.Serialization;

namespace Batchyard.Aws;

/// <summary>The SageMaker operations Batchyard uses, as typed calls over <see cref="AwsJsonClient"/>.</summary>
public sealed class SageMakerClient(AwsJsonClient wire)
{
    /// <summary>Where the calls go (resolved on first use; throws when no region is configured).</summary>
    public AwsEndpoint Endpoint => wire.Endpoint;

    /// <summary>PascalCase wire names as declared; nulls left out, as the SDKs do.</summary>
    public static readonly JsonSerializerOptions Json = new()
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        PropertyNameCaseInsensitive = true,
    };

    public AwsJsonClient Wire => wire;

    public Task<CreateProcessingJobResponse> CreateProcessingJobAsync(CreateProcessingJobRequest request, CancellationToken cancellationToken) =>
        wire.SendAsync<CreateProcessingJobRequest, CreateProcessingJobResponse>("CreateProcessingJob", request, cancellationToken);

    public Task<DescribeProcessingJobResponse> DescribeProcessingJobAsync(string name, CancellationToken cancellationToken) =>
        wire.SendAsync<ProcessingJobNameRequest, DescribeProcessingJobResponse>("DescribeProcessingJob", new(name), cancellationToken);

    public Task StopProcessingJobAsync(string name, CancellationToken cancellationToken) =>
        wire.SendAsync<ProcessingJobNameRequest, StopJobResponse>("StopProcessingJob", new(name), cancellationToken);

    public Task<ListProcessingJobsResponse> ListProcessingJobsAsync(ListProcessingJobsRequest request, CancellationToken cancellationToken) =>
        wire.SendAsync<ListProcessingJobsRequest, ListProcessingJobsResponse>("ListProcessingJobs", request, cancellationToken);

    public Task<CreateTrainingJobResponse> CreateTrainingJobAsync(CreateTrainingJobRequest request, CancellationToken cancellationToken) =>
        wire.SendAsync<CreateTrainingJobRequest, CreateTrainingJobResponse>("CreateTrainingJob", request, cancellationToken);

    public Task<DescribeTrainingJobResponse> DescribeTrainingJobAsync(string name, CancellationToken cancellationToken) =>
        wire.SendAsync<TrainingJobNameRequest, DescribeTrainingJobResponse>("DescribeTrainingJob", new(name), cancellationToken);

    public Task StopTrainingJobAsync(string name, CancellationToken cancellationToken) =>
        wire.SendAsync<TrainingJobNameRequest, StopJobResponse>("StopTrainingJob", new(name), cancellationToken);
}

/// <summary>The CloudWatch Logs reads Batchyard uses to tail job output.</summary>
public sealed class CloudWatchLogsClient(AwsJsonClient wire)
{
    public static readonly JsonSerializerOptions Json = new()
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        PropertyNameCaseInsensitive = true,
    };

    public AwsJsonClient Wire => wire;

    public Task<DescribeLogStreamsResponse> DescribeLogStreamsAsync(DescribeLogStreamsRequest request, CancellationToken cancellationToken) =>
        wire.SendAsync<DescribeLogStreamsRequest, DescribeLogStreamsResponse>("DescribeLogStreams", request, cancellationToken);

    public Task<GetLogEventsResponse> GetLogEventsAsync(GetLogEventsRequest request, CancellationToken cancellationToken) =>
        wire.SendAsync<GetLogEventsRequest, GetLogEventsResponse>("GetLogEvents", request, cancellationToken);
}
