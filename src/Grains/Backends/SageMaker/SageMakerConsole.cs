namespace Batchyard.Backends.SageMaker;

/// <summary>Pages of the AWS console for SageMaker jobs.</summary>
public static class SageMakerConsole
{
    /// <summary>The list of this kind of job in <paramref name="region"/>.</summary>
    public static Uri JobsPage(string region, SageMakerJobKind kind) => Page(region, Section(kind));

    /// <summary>One job's page; <paramref name="jobName"/> is the job's name (not its ARN).</summary>
    public static Uri JobPage(string region, SageMakerJobKind kind, string jobName) =>
        Page(region, $"{Section(kind)}/{Uri.EscapeDataString(jobName)}");

    private static string Section(SageMakerJobKind kind) => kind == SageMakerJobKind.Training ? "jobs" : "processing-jobs";

    private static Uri Page(string region, string fragment) =>
        new($"https://{region}.console.aws.amazon.com/sagemaker/home?region={region}#/{fragment}");
}
