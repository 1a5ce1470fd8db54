using Batchyard.Aws;

namespace Batchyard.Backends.SageMaker;

/// <summary>Which refusals of a Create call mean "no capacity for now" rather than "this job is wrong".</summary>
public static class SageMakerCapacity
{
    /// <summary>
    /// Words of the ValidationExceptions SageMaker answers for an instance limit (for example "The account-level service
    /// limit 'ml.p3.2xlarge for training job usage' is 0 Instances…"); any other ValidationException is the job's fault.
    /// </summary>
    private static readonly string[] LimitWords = ["resource limit", "account-level service limit", "service quota", "instance limit"];

    public static bool IsCapacityError(AwsServiceException error)
    {
        ArgumentNullException.ThrowIfNull(error);
        return error.ErrorCode is "ResourceLimitExceeded" or "ResourceLimitExceededException"
            || (error is AwsValidationException && LimitWords.Any(w => error.ServiceMessage.Contains(w, StringComparison.OrdinalIgnoreCase)));
    }
}
