using System.Collections.Immutable;
using Batchyard.Dags;
using Batchyard.Runs;
using Orleans.Concurrency;

namespace Batchyard.Grains;

/// <summary>What a task instance needs to run its attempts.</summary>
[GenerateSerializer, Immutable]
public sealed record TaskStart
{
    [Id(0)] public required TaskDefinition Task { get; init; }
    [Id(1)] public DateTimeOffset LogicalDate { get; init; }
    [Id(2)] public ImmutableDictionary<string, string> Params { get; init; } = ImmutableDictionary<string, string>.Empty;
}

/// <summary>One task instance of one run, keyed <c>{dagId}/{runId}/{taskId}</c>: attempts, retries, timeout, its job.</summary>
public interface ITaskRunGrain : IGrainWithStringKey
{
    /// <summary>Starts the task (no-op when it is already started and not cleared).</summary>
    Task StartAsync(TaskStart start);

    /// <summary>The task instance with its attempts (read-only, so it may interleave: a pool asks it while the task waits on the pool).</summary>
    [AlwaysInterleave]
    Task<TaskInstanceDetails?> GetAsync();

    /// <summary>Stops the running job, if any, and ends the task as cancelled.</summary>
    Task CancelAsync();

    /// <summary>Stops the running job, if any, and returns the task to pending, keeping its attempts.</summary>
    Task ClearAsync();

    /// <summary>Re-checks the current attempt against its backend, deadline and retry time.</summary>
    [OneWay]
    Task AdvanceAsync();
}
