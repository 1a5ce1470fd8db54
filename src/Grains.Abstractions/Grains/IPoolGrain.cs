using System.Collections.Immutable;

namespace Batchyard.Grains;

/// <summary>A pool's slots and who holds or waits for them.</summary>
[GenerateSerializer, Immutable]
public sealed record PoolInfo
{
    [Id(0)] public required string Name { get; init; }
    /// <summary>Null: the pool is not limited.</summary>
    [Id(1)] public int? Slots { get; init; }
    /// <summary>Task instances (<c>dag/run/task</c>) holding a slot.</summary>
    [Id(2)] public ImmutableArray<string> Holders { get; init; } = [];
    /// <summary>Task instances waiting for a slot, first in line first.</summary>
    [Id(3)] public ImmutableArray<string> Waiting { get; init; } = [];
}

/// <summary>One pool (Airflow's pools), keyed by its name: limits how many task attempts run at once.</summary>
public interface IPoolGrain : IGrainWithStringKey
{
    /// <summary>Takes a slot for a task instance, or puts it in line (FIFO) and returns false; it is woken when its turn comes.</summary>
    Task<bool> AcquireAsync(string holder);

    /// <summary>Gives back the slot (or the place in line) of a task instance.</summary>
    Task ReleaseAsync(string holder);

    /// <summary>The pool's slots, holders and line.</summary>
    Task<PoolInfo> GetAsync();
}
