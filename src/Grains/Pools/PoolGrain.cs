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
}

/// <summary>
/// One pool: hands out its slots first come, first served, and wakes the next task in line when a slot is
/// given back. A holder that ended without giving its slot back (its silo died) is found and dropped when
/// the pool is full and someone waits.
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

    public async Task<bool> AcquireAsync(string holder)
    {
        if (S.Holders.Contains(holder))
        {
            return true;
        }
        if (S.Holders.Count >= Slots)
        {
            await DropEndedHoldersAsync();
        }
        if (S.Holders.Count < Slots && (S.Waiting.Count == 0 || S.Waiting[0] == holder))
        {
            S.Waiting.Remove(holder);
            S.Holders.Add(holder);
            await store.WriteStateAsync();
            return true;
        }
        if (!S.Waiting.Contains(holder))
        {
            S.Waiting.Add(holder);
            await store.WriteStateAsync();
            LogWaiting(Name, holder, S.Waiting.Count);
        }
        return false;
    }

    public async Task ReleaseAsync(string holder)
    {
        if (S.Holders.Remove(holder) | S.Waiting.Remove(holder))
        {
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
    });

    private void GrantWaiters()
    {
        while (S.Holders.Count < Slots && S.Waiting.Count > 0)
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
