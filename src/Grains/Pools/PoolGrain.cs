using System.Collections.Immutable;
using Batchyard.Grains;
using Batchyard.Runs;
using Microsoft.Extensions.Logging;

namespace Batchyard.Pools;

/// <summary>What a pool grain persists.</summary>
[GenerateSerializer]
public sealed class PoolState
{
    [Id(0)] public HashSet<string> Holders { get; set; } = new(StringComparer.Ordinal);
    [Id(1)] public List<string> Waiting { get; set; } = [];
    /// <summary>Slots a holder (or a holder in line) takes when it is not one: a quota's instances.</summary>
    [Id(2)] public Dictionary<string, int> Units { get; set; } = new(StringComparer.Ordinal);
}

/// <summary>
/// One pool: hands out its slots first come, first served, and wakes the next task in line when a slot is
/// given back. A holder that ended without giving its slot back (its silo died) is found and dropped when
/// the pool is full and someone waits. A quota (<c>quota:TYPE</c>) is the same with holders of several slots.
/// </summary>
public sealed partial class PoolGrain(
    [PersistentState("pool", StorageNames.Batchyard)] IPersistentState<PoolState> store,
    PoolSettings settings,
    ILogger<PoolGrain> logger) : Grain, IPoolGrain
{
    private static readonly TimeSpan RecheckEvery = TimeSpan.FromSeconds(30);
    private DateTime _lastRecheck = DateTime.MinValue;

    private PoolState S => store.State;

    private string Name => this.GetPrimaryKeyString();

    private int Slots => settings.SlotsOf(Name) ?? int.MaxValue;

    public async Task<bool> AcquireAsync(string holder) => (await AcquireUnitsAsync(holder, 1)).Granted;

    public async Task<PoolAdmission> AcquireUnitsAsync(string holder, int units)
    {
        // A holder wider than the whole pool would wait forever: it runs alone instead.
        units = Math.Clamp(units, 1, Math.Max(1, Slots));
        if (S.Holders.Contains(holder))
        {
            return Admission(true, holder);
        }
        if (InUse + units > Slots)
        {
            await DropEndedHoldersAsync();
        }
        if (InUse + units <= Slots && (S.Waiting.Count == 0 || S.Waiting[0] == holder))
        {
            S.Waiting.Remove(holder);
            S.Holders.Add(holder);
            SetUnits(holder, units);
            // The next in line may fit in what is left.
            GrantWaiters();
            await store.WriteStateAsync();
            return Admission(true, holder);
        }
        if (!S.Waiting.Contains(holder))
        {
            S.Waiting.Add(holder);
            SetUnits(holder, units);
            await store.WriteStateAsync();
            LogWaiting(Name, holder, S.Waiting.Count);
        }
        return Admission(false, holder);
    }

    public async Task ReleaseAsync(string holder)
    {
        if (S.Holders.Remove(holder) | S.Waiting.Remove(holder))
        {
            S.Units.Remove(holder);
            GrantWaiters();
            await store.WriteStateAsync();
        }
    }

    public Task<PoolInfo> GetAsync() => Task.FromResult(new PoolInfo
    {
        Name = Name,
        Slots = settings.SlotsOf(Name),
        Holders = [.. S.Holders.Order(StringComparer.Ordinal)],
        Waiting = [.. S.Waiting],
        Kind = PoolSettings.IsQuota(Name) ? "quota" : "pool",
        InUse = InUse,
    });

    private int InUse => S.Holders.Sum(UnitsOf);

    private int UnitsOf(string holder) => S.Units.GetValueOrDefault(holder, 1);

    private void SetUnits(string holder, int units)
    {
        if (units == 1)
        {
            S.Units.Remove(holder);
        }
        else
        {
            S.Units[holder] = units;
        }
    }

    private PoolAdmission Admission(bool granted, string holder) => new()
    {
        Granted = granted,
        InUse = InUse,
        Slots = settings.SlotsOf(Name),
        Ahead = granted ? 0 : Math.Max(0, S.Waiting.IndexOf(holder)),
    };

    private void GrantWaiters()
    {
        while (S.Waiting.Count > 0 && InUse + Math.Min(UnitsOf(S.Waiting[0]), Math.Max(1, Slots)) <= Slots)
        {
            var next = S.Waiting[0];
            S.Waiting.RemoveAt(0);
            S.Holders.Add(next);
            // Woken with its slot already taken for it: its next AcquireAsync answers true.
            var (dagId, runId, taskId) = RunKeys.ParseTask(next);
            GrainFactory.GetGrain<IDagRunGrain>(RunKeys.Run(dagId, runId)).OnPoolSlotAsync(taskId).Ignore();
        }
    }

    /// <summary>Drops holders whose attempt is over (a silo died before they gave their slot back).</summary>
    private async Task DropEndedHoldersAsync()
    {
        if (DateTime.UtcNow - _lastRecheck < RecheckEvery)
        {
            return;
        }
        _lastRecheck = DateTime.UtcNow;
        var holders = S.Holders.ToList();
        var states = await Task.WhenAll(holders.Select(h => RunKeys.ParseTask(h) is var (dagId, runId, taskId)
            ? GrainFactory.GetGrain<IDagRunGrain>(RunKeys.Run(dagId, runId)).GetTaskStateAsync(taskId)
            : Task.FromResult<TaskState?>(null)));
        var ended = holders.Where((_, i) => states[i] is not (TaskState.Queued or TaskState.Submitted or TaskState.Running or TaskState.UpForRetry)).ToList();
        foreach (var holder in ended)
        {
            S.Holders.Remove(holder);
            S.Units.Remove(holder);
            LogDropped(Name, holder);
        }
        if (ended.Count > 0)
        {
            GrantWaiters();
            await store.WriteStateAsync();
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "pool {Pool}: {Holder} waits for a slot ({Count} in line)")]
    private partial void LogWaiting(string pool, string holder, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "pool {Pool}: dropped {Holder}, whose attempt ended without giving its slot back")]
    private partial void LogDropped(string pool, string holder);
}
