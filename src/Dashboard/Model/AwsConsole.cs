using Batchyard.Backends.SageMaker;

namespace Batchyard.Dashboard.Model;

/// <summary>Links from a SageMaker job to its page in the AWS console.</summary>
public static class AwsConsole
{
    /// <summary>
    /// The console page of a SageMaker job, or null for other backends. <paramref name="jobId"/> may be the job
    /// name or its ARN (which carries the region); otherwise <paramref name="defaultRegion"/> is used.
    /// </summary>
    public static Uri? JobLink(string backend, string? jobId, string defaultRegion)
    {
        if (string.IsNullOrEmpty(jobId) || !backend.StartsWith("sagemaker", StringComparison.Ordinal))
        {
            return null;
        }
        var region = defaultRegion;
        var name = jobId;
        // arn:aws:sagemaker:REGION:ACCOUNT:processing-job/NAME
        var parts = jobId.Split(':');
        if (parts.Length >= 6 && parts[0] == "arn")
        {
            region = parts[3];
            name = parts[5][(parts[5].IndexOf('/', StringComparison.Ordinal) + 1)..];
        }
        var kind = backend == SageMakerTrainingBackend.BackendName ? SageMakerJobKind.Training : SageMakerJobKind.Processing;
        return SageMakerConsole.JobPage(region, kind, name);
    }
}
