using System.Collections.Immutable;
using Batchyard.Backends;
using Batchyard.Dags;

namespace Batchyard.Runs;

/// <summary>What a task grain persists: small, the job's name written before the job is submitted.</summary>
[GenerateSerializer]
public sealed class TaskRunState
{
    [Id(0)] public TaskDefinition? Task { get; set; }
    [Id(1)] public DateTimeOffset LogicalDate { get; set; }
    [Id(2)] public ImmutableDictionary<string, string> Params { get; set; } = ImmutableDictionary<string, string>.Empty;
    [Id(3)] public TaskState State { get; set; } = TaskState.Pending;
    [Id(4)] public List<AttemptDetails> Attempts { get; set; } = [];
    /// <summary>Attempts made before the last clear; retries count from here.</summary>
    [Id(5)] public int AttemptsAtClear { get; set; }
    [Id(6)] public DateTimeOffset? NextAttemptAt { get; set; }
    /// <summary>The job that may still exist on its backend; cleared only once it is known to have ended.</summary>
    [Id(7)] public JobRef? Job { get; set; }
    /// <summary>When the running attempt times out.</summary>
    [Id(8)] public DateTimeOffset? Deadline { get; set; }
    [Id(9)] public long Sequence { get; set; }
    /// <summary>Jobs asked to stop whose end is not confirmed yet; asked again after a restart.</summary>
    [Id(10)] public List<JobRef> StopPending { get; set; } = [];
}
