using Batchyard.Grains;
using Batchyard.Runs;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Batchyard.Scheduling;

/// <summary>
/// Fires the cron slots of the DAGs in one shard (<see cref="ScheduleShards.Of"/>) at their exact instant,
/// from one in-memory timer on the earliest slot, instead of a durable reminder per DAG rewritten every slot.
/// <para>
/// Nothing here is durable, and nothing needs to be: a DAG's newest fired slot is in the DAG's own state,
/// and its run ids are its slots, so firing a slot again creates nothing. What must survive a crash is that
/// the shard comes back: one durable reminder per shard (every <c>Batchyard:WakePeriod</c>) activates it on a
/// surviving silo, where it asks each of its DAGs for its next slot (from the registry of DAG ids), and a slot
/// missed meanwhile is overdue and fires at once, under the DAG's catchup rule.
/// </para>
/// </summary>
[CollectionAgeLimit(AlwaysActive = true)]
public sealed partial class ScheduleShardGrain(
    [Microsoft.Extensions.DependencyInjection.FromKeyedServices(BatchyardClock.Key)] TimeProvider time,
    IOptions<WakeOptions> wake,
    IOptions<SchedulingOptions> scheduling,
    FolderLoad folderLoad,
    ILogger<ScheduleShardGrain> logger) : Grain, IScheduleShardGrain, IRemindable
{
    internal const string KeepAliveReminder = "schedule-shard";

    /// <summary>When a fired DAG has not told its next slot by then, it is fired again (it may have failed).</summary>
    private static readonly TimeSpan Unanswered = TimeSpan.FromSeconds(30);

    /// <summary>When a DAG's evaluation failed (it timed out, its storage was away), it is fired again after this.</summary>
    private static readonly TimeSpan Retry = TimeSpan.FromSeconds(1);

    private readonly Dictionary<string, DateTimeOffset> _next = new(StringComparer.Ordinal);
    private readonly PriorityQueue<string, DateTimeOffset> _due = new();
    private readonly HashSet<string> _told = new(StringComparer.Ordinal);
    private ITimer? _timer;
    private DateTimeOffset? _armedFor;
    private int _inFlight;

    private int Shard => (int)this.GetPrimaryKeyLong();

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (Shard >= scheduling.Value.Shards)
        {
            // Left over from a larger shard count: its DAGs belong to other shards now.
            if (await this.GetReminder(KeepAliveReminder) is { } stale)
            {
                await this.UnregisterReminder(stale);
            }
            return;
        }
        if (await this.GetReminder(KeepAliveReminder) is null)
        {
            await this.RegisterOrUpdateReminder(KeepAliveReminder, wake.Value.WakePeriod, wake.Value.WakePeriod);
        }
        // Not awaited: while it asks its DAGs, the shard keeps answering them (a DAG being applied tells its
        // shard of its schedule and waits for that while the shard's question waits for it).
        _ = LoadAsync();
    }

    public Task SetNextAsync(string dagId, DateTimeOffset? next)
    {
        _told.Add(dagId);
        Set(dagId, next);
        Arm();
        return Task.CompletedTask;
    }

    public Task FireDueAsync()
    {
        _armedFor = null;
        Pump();
        return Task.CompletedTask;
    }

    /// <summary>
    /// Fires the due slots, at most <see cref="SchedulingOptions.FiresInFlight"/> DAGs at once: a burst (every
    /// DAG due in the same second) waits its turn here, in slot order, instead of as thousands of calls queued
    /// in the grains that would time out and take every connection of the storage.
    /// </summary>
    private void Pump()
    {
        var now = time.GetUtcNow();
        var fired = 0;
        while (_inFlight < FiresInFlight && _due.TryPeek(out var dagId, out var slot) && slot <= now)
        {
            _due.Dequeue();
            if (!_next.TryGetValue(dagId, out var current) || current != slot)
            {
                continue;
            }
            // The DAG answers with its next slot (SetNextAsync); until then, this stands in for it.
            var standIn = now + Unanswered;
            _next[dagId] = standIn;
            _due.Enqueue(dagId, standIn);
            _inFlight++;
            _ = FireAsync(dagId, standIn);
            fired++;
        }
        if (fired > 0)
        {
            LogFired(Shard, fired);
        }
        Arm();
    }

    private async Task FireAsync(string dagId, DateTimeOffset standIn)
    {
        try
        {
            await GrainFactory.GetGrain<IDagGrain>(dagId).EvaluateScheduleAsync();
        }
        catch (Exception ex) when (ex is OrleansException or TimeoutException or InvalidOperationException or KeyNotFoundException)
        {
            // Fired again shortly, unless the DAG told its next slot meanwhile (its call may have ended late).
            LogFireFailed(Shard, dagId, ex.Message);
            if (_next.TryGetValue(dagId, out var current) && current == standIn)
            {
                Set(dagId, time.GetUtcNow() + Retry);
            }
        }
        finally
        {
            // On the grain's scheduler: the continuation interleaves with the shard's calls, never beside them.
            _inFlight--;
            Pump();
        }
    }

    /// <summary>DAGs fired at once: one while this silo loads its DAGs folder for the first time (<see cref="FolderLoad"/>).</summary>
    private int FiresInFlight => folderLoad.Loading ? 1 : scheduling.Value.FiresInFlight;

    public Task<int> CountAsync() => Task.FromResult(_next.Count);

    public Task ReceiveReminder(string reminderName, TickStatus status) =>
        // Activation did the work; a tick also catches a slot whose timer was somehow lost.
        reminderName == KeepAliveReminder ? FireDueAsync() : Task.CompletedTask;

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        _timer?.Dispose();
        return Task.CompletedTask;
    }

    private async Task LoadAsync()
    {
        try
        {
            var shards = scheduling.Value.Shards;
            var mine = (await GrainFactory.GetGrain<IDagRegistryGrain>(0).ListAsync()).Where(id => ScheduleShards.Of(id, shards) == Shard).ToList();
            foreach (var batch in mine.Chunk(256))
            {
                var answers = await Task.WhenAll(batch.Select(async id => (id, next: await GrainFactory.GetGrain<IDagGrain>(id).GetNextFireAsync())));
                foreach (var (id, next) in answers)
                {
                    // What a DAG told meanwhile is newer than this answer.
                    if (!_told.Contains(id))
                    {
                        Set(id, next);
                    }
                }
                Arm();
            }
            LogLoaded(Shard, _next.Count);
        }
        catch (Exception ex) when (ex is OrleansException or TimeoutException or InvalidOperationException)
        {
            // The registry or a DAG could not answer (storage away): the next reminder tick activates a new try.
            LogLoadFailed(Shard, ex.Message);
            DeactivateOnIdle();
        }
    }

    private void Set(string dagId, DateTimeOffset? next)
    {
        if (next is { } slot)
        {
            _next[dagId] = slot;
            _due.Enqueue(dagId, slot);
        }
        else
        {
            _next.Remove(dagId);
        }
        // Entries replaced since they were queued are skipped when they come up; rebuild when they pile up.
        if (_due.Count > (2 * _next.Count) + 1024)
        {
            _due.Clear();
            foreach (var (id, at) in _next)
            {
                _due.Enqueue(id, at);
            }
        }
    }

    /// <summary>One timer, on the earliest slot of the shard.</summary>
    private void Arm()
    {
        while (_due.TryPeek(out var dagId, out var slot) && (!_next.TryGetValue(dagId, out var current) || current != slot))
        {
            _due.Dequeue();
        }
        if (!_due.TryPeek(out _, out var earliest))
        {
            _timer?.Dispose();
            _timer = null;
            _armedFor = null;
            return;
        }
        if (_inFlight >= FiresInFlight && earliest <= time.GetUtcNow())
        {
            // Due, but as many DAGs as may be are firing: the next one to answer fires it.
            _timer?.Dispose();
            _timer = null;
            _armedFor = null;
            return;
        }
        if (_armedFor == earliest)
        {
            return;
        }
        _timer?.Dispose();
        _armedFor = earliest;
        var delay = earliest - time.GetUtcNow();
        var self = this.AsReference<IScheduleShardGrain>();
        // The timer's callback runs outside the grain; it asks the grain to fire, as any caller would.
        _timer = time.CreateTimer(_ => self.FireDueAsync().Ignore(), null, delay < TimeSpan.Zero ? TimeSpan.Zero : delay, Timeout.InfiniteTimeSpan);
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "schedule shard {Shard}: fired {Count} DAG(s)")]
    private partial void LogFired(int shard, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "schedule shard {Shard}: DAG {DagId} did not evaluate its schedule ({Reason}); fired again shortly")]
    private partial void LogFireFailed(int shard, string dagId, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "schedule shard {Shard}: following {Count} scheduled DAG(s)")]
    private partial void LogLoaded(int shard, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "schedule shard {Shard}: could not read its DAGs ({Reason}); trying again on its next tick")]
    private partial void LogLoadFailed(int shard, string reason);
}

/// <summary>Which schedule shard a DAG belongs to: a stable hash of its id (the same on every silo and run).</summary>
public static class ScheduleShards
{
    public static int Of(string dagId, int shards)
    {
        ArgumentNullException.ThrowIfNull(dagId);
        // FNV-1a over the UTF-16 code units: string.GetHashCode differs between processes.
        var hash = 2166136261u;
        foreach (var c in dagId)
        {
            hash = (hash ^ c) * 16777619u;
        }
        return (int)(hash % (uint)Math.Max(1, shards));
    }
}

/// <summary><c>Batchyard:Scheduling</c>.</summary>
public sealed record SchedulingOptions
{
    /// <summary>Schedule shards of the cluster (each one grain with one durable reminder); every silo must agree.</summary>
    public int Shards { get; init; } = 32;

    /// <summary>
    /// DAGs each shard fires at once; more that are due wait their turn in the shard, in slot order. Across the
    /// default 32 shards, 256 runs are being made at a time, which keeps a burst within the storage's connections.
    /// </summary>
    public int FiresInFlight { get; init; } = 8;

    /// <summary>
    /// How long before its instant a cron slot's run is made: it waits queued, admitted, and an in-memory timer
    /// begins it at the slot. Making runs takes time (and storage writes); beginning a made one takes little, so
    /// thousands of DAGs due in the same second start on time. Zero makes each run at its slot.
    /// </summary>
    public TimeSpan Lead { get; init; } = TimeSpan.FromSeconds(30);
}
