using Batchyard.Aws;

namespace Batchyard.Backends.SageMaker;

/// <summary>Which SageMaker job API a backend drives.</summary>
public enum SageMakerJobKind
{
    Processing,
    Training,
}

/// <summary>One Describe answer, the same shape for Processing and Training jobs.</summary>
public sealed record SageMakerJobSnapshot
{
    public required SageMakerJobKind Kind { get; init; }
    public required string Name { get; init; }
    /// <summary>Describe said the job does not exist (SageMaker's ValidationException).</summary>
    public bool Missing { get; init; }
    public string? Arn { get; init; }
    /// <summary><c>InProgress | Completed | Failed | Stopping | Stopped</c>.</summary>
    public string Status { get; init; } = "";
    public string? SecondaryStatus { get; init; }
    public string? FailureReason { get; init; }
    public string? ExitMessage { get; init; }
    public DateTimeOffset? StartedAt { get; init; }
    public DateTimeOffset? EndedAt { get; init; }
    public IReadOnlyList<SecondaryStatusTransition> Transitions { get; init; } = [];
    public int? BillableSeconds { get; init; }
    public int? TrainingSeconds { get; init; }
    /// <summary>Training: seconds a warm pool kept the instances, billed (<c>WarmPoolStatus.ResourceRetainedBillableTimeInSeconds</c>).</summary>
    public int? WarmPoolSeconds { get; init; }
    public string? InstanceType { get; init; }
    public int? InstanceCount { get; init; }
    /// <summary>Training: a managed spot training job.</summary>
    public bool Spot { get; init; }
    /// <summary>Training: the job's warm pool while it has one (<c>KeepAlivePeriodInSeconds</c> was set).</summary>
    public WarmPoolStatus? WarmPool { get; init; }
    /// <summary>Training's <c>FinalMetricDataList</c>; empty for processing jobs.</summary>
    public IReadOnlyList<MetricData> FinalMetrics { get; init; } = [];

    public bool IsFinal => Missing || Status is "Completed" or "Failed" or "Stopped";

    /// <summary>
    /// What the attempt's cost is worked out from (<see cref="Costs.CostFacts"/>): the instances and the region;
    /// billable and training seconds are in the status details already.
    /// </summary>
    public IEnumerable<KeyValuePair<string, string>> BillingFacts(string? region)
    {
        yield return new(Costs.CostFacts.Billing, Costs.CostFacts.Instance);
        if (InstanceType is { } type) yield return new(Costs.CostFacts.InstanceType, type);
        if (InstanceCount is { } count) yield return new(Costs.CostFacts.InstanceCount, count.ToString(System.Globalization.CultureInfo.InvariantCulture));
        if (region is not null) yield return new(Costs.CostFacts.Region, region);
        if (WarmPoolSeconds is { } retained) yield return new(Costs.CostFacts.WarmPoolSeconds, retained.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    public static SageMakerJobSnapshot NotFound(SageMakerJobKind kind, string name) => new() { Kind = kind, Name = name, Missing = true };

    public static SageMakerJobSnapshot From(DescribeProcessingJobResponse job) => new()
    {
        Kind = SageMakerJobKind.Processing,
        Name = job.ProcessingJobName,
        Arn = job.ProcessingJobArn,
        Status = job.ProcessingJobStatus,
        FailureReason = job.FailureReason,
        ExitMessage = job.ExitMessage,
        StartedAt = job.ProcessingStartTime,
        EndedAt = job.ProcessingEndTime,
        InstanceType = job.ProcessingResources?.ClusterConfig.InstanceType,
        InstanceCount = job.ProcessingResources?.ClusterConfig.InstanceCount,
    };

    public static SageMakerJobSnapshot From(DescribeTrainingJobResponse job) => new()
    {
        Kind = SageMakerJobKind.Training,
        Name = job.TrainingJobName,
        Arn = job.TrainingJobArn,
        Status = job.TrainingJobStatus,
        SecondaryStatus = job.SecondaryStatus,
        FailureReason = job.FailureReason,
        StartedAt = job.TrainingStartTime,
        EndedAt = job.TrainingEndTime,
        Transitions = job.SecondaryStatusTransitions ?? [],
        BillableSeconds = job.BillableTimeInSeconds,
        TrainingSeconds = job.TrainingTimeInSeconds,
        WarmPoolSeconds = job.WarmPoolStatus?.ResourceRetainedBillableTimeInSeconds,
        InstanceType = job.ResourceConfig?.InstanceType,
        InstanceCount = job.ResourceConfig?.InstanceCount,
        Spot = job.EnableManagedSpotTraining == true,
        WarmPool = job.WarmPoolStatus,
        FinalMetrics = job.FinalMetricDataList ?? [],
    };
}
