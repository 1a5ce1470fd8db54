using System.Runtime.CompilerServices;
using Batchyard.Backends;
using Batchyard.Dags;
using Batchyard.Logs;

namespace Batchyard.Tests.Dags;

/// <summary>A backend that only has a name and rules; DAG parsing never runs a job.</summary>
internal sealed class RuleBackend(string name, Func<TaskDefinition, IEnumerable<BackendProblem>>? rules = null) : IJobBackend
{
    public string Name => name;

    public IEnumerable<BackendProblem> Validate(TaskDefinition task) => rules?.Invoke(task) ?? [];

    public Task<JobStatus> SubmitAsync(JobRequest request, CancellationToken cancellationToken) =>
        throw new NotSupportedException();

    public async IAsyncEnumerable<JobStatus> WatchAsync(JobRef job, IAttemptLog log, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await Task.CompletedTask;
        yield break;
    }

    public Task StopAsync(JobRef job, CancellationToken cancellationToken) => Task.CompletedTask;

    public Task<BackendHealth> DescribeHealthAsync(CancellationToken cancellationToken) =>
        Task.FromResult(new BackendHealth { Backend = name, Status = BackendStatus.Ok, Message = "parses DAGs only" });
}

internal static class TestBackends
{
    /// <summary>local, noop, sagemaker and sagemaker-training; the SageMaker ones object like a picky SageMaker would.</summary>
    public static BackendCatalog Catalog { get; } = new(
    [
        new RuleBackend("local"),
        new RuleBackend("noop"),
        new RuleBackend("sagemaker", SageMakerRules),
        new RuleBackend("sagemaker-training", SageMakerRules),
    ]);

    /// <summary>The same names with no rules at all, for DAGs that only test the file format.</summary>
    public static BackendCatalog Lenient { get; } = new(
        new[] { "local", "noop", "sagemaker", "sagemaker-training" }.Select(name => new RuleBackend(name)));

    private static IEnumerable<BackendProblem> SageMakerRules(TaskDefinition task)
    {
        if (string.IsNullOrEmpty(task.Image))
        {
            yield return new BackendProblem("image", "a SageMaker task needs an image");
        }
        if (task.Resources.InstanceCount is > 10)
        {
            yield return new BackendProblem("resources.instance_count", $"instance_count {task.Resources.InstanceCount} is over the account limit of 10");
        }
        foreach (var key in task.Env.Keys.Where(k => k.StartsWith("AWS_", StringComparison.Ordinal)).Order(StringComparer.Ordinal))
        {
            yield return new BackendProblem($"env.{key}", $"environment variable {key} is reserved by SageMaker");
        }
        for (var i = 0; i < task.Inputs.Length; i++)
        {
            if (!task.Inputs[i].S3Uri.StartsWith("s3://", StringComparison.Ordinal))
            {
                yield return new BackendProblem($"inputs[{i}].s3_uri", $"'{task.Inputs[i].S3Uri}' is not an s3:// URI");
            }
        }
    }
}
