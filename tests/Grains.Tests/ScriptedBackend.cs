using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Batchyard.Backends;
using Batchyard.Dags;
using Batchyard.Logs;

namespace Batchyard.Tests;

/// <summary>
/// A backend whose jobs do what the task's command says, so that grain tests can script outcomes:
/// <c>ok</c>, <c>fail</c>, <c>fail-first N</c> (fail the first N attempts), <c>hold</c> (run until released or stopped),
/// <c>busy N</c> (answer the first N submits of a job as throttled, then run until released),
/// <c>output JSON</c> (succeed with that output, or fail as a backend does when it is not a valid output).
/// </summary>
public sealed class ScriptedBackend(TimeProvider time) : IJobBackend
{
    private readonly ConcurrentDictionary<string, Job> _jobs = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int> _busyAnswers = new(StringComparer.Ordinal);

    public string Name => "test";

    public ConcurrentQueue<string> Submitted { get; } = new();

    public ConcurrentQueue<string> Stopped { get; } = new();

    public IEnumerable<BackendProblem> Validate(TaskDefinition task) => [];

    /// <summary>A task with an instance type holds its instances of it, as a SageMaker task does.</summary>
    public CapacityClaim? ClaimOf(TaskDefinition task) =>
        task.Resources.InstanceType is { } type ? new(type, task.Resources.InstanceCount ?? 1) : null;

    public async Task<JobStatus> SubmitAsync(JobRequest request, CancellationToken cancellationToken)
    {
        if (request.Task.Command is ["busy", var times, ..]
            && _busyAnswers.AddOrUpdate(request.Job.JobName, 1, (_, n) => n + 1) <= int.Parse(times, System.Globalization.CultureInfo.InvariantCulture))
        {
            throw new TransientBackendException("throttled");
        }
        var job = _jobs.GetOrAdd(request.Job.JobName, _ =>
        {
            Submitted.Enqueue(request.Job.JobName);
            return new Job(request);
        });
        await request.Log.AppendAsync($"attempt {request.Job.Attempt} of {request.Task.TaskId}\n", cancellationToken);
        var command = request.Task.Command;
        var verb = command.IsEmpty ? "ok" : command[0];
        switch (verb)
        {
            case "ok":
                return Final(job, JobState.Succeeded, 0);
            case "fail":
                return Final(job, JobState.Failed, 1);
            case "fail-first" when request.Job.Attempt <= int.Parse(command[1], System.Globalization.CultureInfo.InvariantCulture):
                return Final(job, JobState.Failed, 3);
            case "fail-first":
                return Final(job, JobState.Succeeded, 0);
            case "bill":
                // Ran SECONDS on one ml.m5.xlarge (us-east-1 list price), billed as a processing job is.
                var seconds = int.Parse(command[1], System.Globalization.CultureInfo.InvariantCulture);
                var billed = Final(job, JobState.Succeeded, 0);
                return billed with
                {
                    StartedAt = billed.EndedAt!.Value.AddSeconds(-seconds),
                    Details = billed.Details.SetItems(new Dictionary<string, string>
                    {
                        [Batchyard.Costs.CostFacts.Billing] = Batchyard.Costs.CostFacts.Instance,
                        [Batchyard.Costs.CostFacts.InstanceType] = "ml.m5.xlarge",
                        [Batchyard.Costs.CostFacts.InstanceCount] = "1",
                        [Batchyard.Costs.CostFacts.Region] = "us-east-1",
                    }),
                };
            case "output":
                var (output, error) = TaskOutputs.Read(command[1], "the scripted output");
                return error is null ? Final(job, JobState.Succeeded, 0) with { Output = output } : Final(job, JobState.Failed, 0) with { Reason = error };
            default:
                return new JobStatus { State = JobState.Running, JobId = job.Request.Job.JobName, StartedAt = time.GetUtcNow() };
        }
    }

    public async IAsyncEnumerable<JobStatus> WatchAsync(JobRef job, IAttemptLog log, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        if (!_jobs.TryGetValue(job.JobName, out var known))
        {
            yield return new JobStatus { State = JobState.Lost, Reason = "unknown job" };
            yield break;
        }
        var outcome = await known.Outcome.Task.WaitAsync(cancellationToken);
        yield return outcome;
    }

    public Task StopAsync(JobRef job, CancellationToken cancellationToken)
    {
        Stopped.Enqueue(job.JobName);
        if (_jobs.TryGetValue(job.JobName, out var known))
        {
            known.Outcome.TrySetResult(new JobStatus { State = JobState.Stopped, EndedAt = time.GetUtcNow() });
        }
        return Task.CompletedTask;
    }

    public Task<BackendHealth> DescribeHealthAsync(CancellationToken cancellationToken) =>
        Task.FromResult(new BackendHealth { Backend = Name, Status = BackendStatus.Ok, Message = "scripted by the test" });

    /// <summary>Ends a held job.</summary>
    public void Release(string jobName, bool succeed)
    {
        var job = _jobs[jobName];
        job.Outcome.TrySetResult(new JobStatus { State = succeed ? JobState.Succeeded : JobState.Failed, ExitCode = succeed ? 0 : 1, EndedAt = time.GetUtcNow() });
    }

    public bool IsRunning(string jobName) => _jobs.TryGetValue(jobName, out var job) && !job.Outcome.Task.IsCompleted;

    /// <summary>The rendered command a job was submitted with.</summary>
    public IReadOnlyList<string> CommandOf(string jobName) => _jobs[jobName].Request.Task.Command;

    private JobStatus Final(Job job, JobState state, int exitCode)
    {
        var now = time.GetUtcNow();
        var status = new JobStatus { State = state, ExitCode = exitCode, JobId = job.Request.Job.JobName, StartedAt = now, EndedAt = now };
        job.Outcome.TrySetResult(status);
        return status;
    }

    private sealed record Job(JobRequest Request)
    {
        public TaskCompletionSource<JobStatus> Outcome { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
