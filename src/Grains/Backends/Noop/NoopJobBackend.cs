using System.Runtime.CompilerServices;
using Batchyard.Dags;
using Batchyard.Logs;

namespace Batchyard.Backends.Noop;

/// <summary>Succeeds at once: measures the orchestrator itself, with no job behind it.</summary>
public sealed class NoopJobBackend(TimeProvider time) : IJobBackend
{
    public string Name => "noop";

    public IEnumerable<BackendProblem> Validate(TaskDefinition task) => [];

    public Task<JobStatus> SubmitAsync(JobRequest request, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        return Task.FromResult(Done(request.Job, now));
    }

    public async IAsyncEnumerable<JobStatus> WatchAsync(JobRef job, IAttemptLog log, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await Task.CompletedTask;
        yield return Done(job, time.GetUtcNow());
    }

    public Task StopAsync(JobRef job, CancellationToken cancellationToken) => Task.CompletedTask;

    public Task<BackendHealth> DescribeHealthAsync(CancellationToken cancellationToken) => Task.FromResult(new BackendHealth
    {
        Backend = Name,
        Status = BackendStatus.Ok,
        Message = "every job succeeds at once; nothing runs behind it",
    });

    private static JobStatus Done(JobRef job, DateTimeOffset now) => new()
    {
        State = JobState.Succeeded,
        JobId = job.JobName,
        ExitCode = 0,
        StartedAt = now,
        EndedAt = now,
        Details = NothingBilled,
    };

    private static readonly System.Collections.Immutable.ImmutableDictionary<string, string> NothingBilled =
        System.Collections.Immutable.ImmutableDictionary<string, string>.Empty.Add(Costs.CostFacts.Billing, Costs.CostFacts.None);
}
