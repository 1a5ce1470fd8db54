using System.Collections.Immutable;

namespace Batchyard.Grains;

/// <summary>A pool's slots and who holds or waits for them.</summary>
[GenerateSerializer, Immutable]
public sealed record PoolInfo
{
    /// <summary>The pool's name; a quota's is <c>quota:TYPE</c>.</summary>
    [Id(0)] public required string Name { get; init; }
    /// <summary>Null: the pool is not limited.</summary>
    [Id(1)] public int? Slots { get; init; }
    /// <summary>Task instances (<c>dag/run/task</c>) holding a slot.</summary>
    [Id(2)] public ImmutableArray<string> Holders { get; init; } = [];
    /// <summary>Task instances waiting for a slot, first in line first.</summary>
    [Id(3)] public ImmutableArray<string> Waiting { get; init; } = [];
    /// <summary><c>pool</c> (attempts of tasks with <c>pool: NAME</c>) or <c>quota</c> (instances of a type, <c>Batchyard:Quotas:TYPE</c>).</summary>
    [Id(4)] public string Kind { get; init; } = "pool";
    /// <summary>Slots in use: one per holder in a pool, the holders' instances in a quota.</summary>
    [Id(5)] public int InUse { get; init; }
}

/// <summary>What a pool answers a request for slots.</summary>
[GenerateSerializer, Immutable]
public sealed record PoolAdmission
{
    [Id(0)] public bool Granted { get; init; }
    /// <summary>Slots in use after the answer.</summary>
    [Id(1)] public int InUse { get; init; }
    /// <summary>Null: not limited.</summary>
    [Id(2)] public int? Slots { get; init; }
    /// <summary>Holders in line ahead of this one (0 when granted).</summary>
    [Id(3)] public int Ahead { get; init; }
}

/// <summary>
/// One pool (Airflow's pools), keyed by its name: limits how many task attempts run at once. A quota
/// (<c>quota:TYPE</c>) is a pool whose slots are instances, and whose holders take as many as they run.
/// </summary>
public interface IPoolGrain : IGrainWithStringKey
{
    /// <summary>Takes a slot for a task instance, or puts it in line (FIFO) and returns false; it is woken when its turn comes.</summary>
    Task<bool> AcquireAsync(string holder);

    /// <summary>Takes <paramref name="units"/> slots for a task instance, or puts it in line (FIFO); it is woken when its turn comes.</summary>
    Task<PoolAdmission> AcquireUnitsAsync(string holder, int units);

    /// <summary>Gives back the slot (or the place in line) of a task instance.</summary>
    Task ReleaseAsync(string holder);

    /// <summary>The pool's slots, holders and line.</summary>
    Task<PoolInfo> GetAsync();
}
