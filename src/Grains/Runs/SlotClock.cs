namespace Batchyard.Runs;

/// <summary>
/// The silo's clock for runs made ahead of their cron slot: one timer per slot instant, however many runs wait for
/// it. At the instant it begins every run armed for it (a cheap turn each: the run is running from then), and once
/// those have answered it lets each begun run go on to write and start its tasks, at most
/// <see cref="FollowUpsAtOnce"/> at a time. Ten thousand DAGs on the same minute thus all begin within a few hundred
/// milliseconds of the slot, instead of each run's timer queueing behind the tasks the runs before it started, and
/// the work they set going reaches the silo (and its API) in a bounded stream.
/// <para>
/// It holds nothing durable and no run waits on it inside a turn: a run re-arms it on activation, its wake reminder
/// begins it after a crash, and a begun run whose go-on never comes goes on by itself (<see cref="FollowUpLimit"/>).
/// </para>
/// </summary>
public sealed class SlotClock([Microsoft.Extensions.DependencyInjection.FromKeyedServices(BatchyardClock.Key)] TimeProvider time)
{
    /// <summary>
    /// Work items queued in the thread pool above which the clock waits before letting the next run go on: the work
    /// a begun run sets going (its journal, its tasks, their ends, its DAG's and the registry's updates) is what
    /// every API answer queues behind, hop after hop. Ten thousand noop runs let go on 64 at a time kept thousands
    /// of items queued and a DAG list answer took 2-3 s.
    /// </summary>
    public int BacklogLimit { get; init; } = 32 * Environment.ProcessorCount;

    /// <summary>The longest the clock waits on the backlog for one instant, in all; after that its runs go on unpaced.</summary>
    public TimeSpan PaceLimit { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>The thread pool's queued work items (the backlog the clock paces by).</summary>
    public Func<long> Backlog { get; init; } = () => ThreadPool.PendingWorkItemCount;

    /// <summary>How many begun runs write and start their first tasks at once.</summary>
    public const int FollowUpsAtOnce = 64;

    /// <summary>The longest the clock waits for the runs of one instant to answer their begin before it lets the answered ones go on.</summary>
    public static readonly TimeSpan BeginLimit = TimeSpan.FromSeconds(2);

    /// <summary>A begun run goes on by itself when the clock has not let it go on by then (its go-on call was lost).</summary>
    public static readonly TimeSpan FollowUpLimit = TimeSpan.FromSeconds(30);

    private readonly Lock _lock = new();
    private readonly Dictionary<DateTimeOffset, Instant> _pending = [];

    /// <summary>Runs waiting for a slot on this silo (for tests and metrics).</summary>
    public int Waiting
    {
        get
        {
            lock (_lock)
            {
                return _pending.Values.Sum(i => i.Entries.Count);
            }
        }
    }

    /// <summary>
    /// At <paramref name="at"/>, calls <paramref name="begin"/> (true: the run has begun), then, once the instant's
    /// runs have answered, <paramref name="goOn"/> for a begun one. Disposing the answer takes it back before the instant.
    /// </summary>
    public IDisposable Arm(DateTimeOffset at, Func<Task<bool>> begin, Func<Task> goOn)
    {
        ArgumentNullException.ThrowIfNull(begin);
        ArgumentNullException.ThrowIfNull(goOn);
        var entry = new Entry(this, begin, goOn);
        Instant? fresh = null;
        lock (_lock)
        {
            if (!_pending.TryGetValue(at, out var instant))
            {
                instant = fresh = new Instant(at);
                _pending[at] = instant;
            }
            // In before the instant can fire: an instant already passed fires at once, and must find its entry.
            instant.Entries.Add(entry);
            entry.Instant = instant;
        }
        if (fresh is not null)
        {
            var delay = at - time.GetUtcNow();
            // Started here, on the caller's thread: a fake clock advanced meanwhile would otherwise leave it a whole delay behind.
            var due = Task.Delay(delay < TimeSpan.Zero ? TimeSpan.Zero : delay, time);
            // On the pool, out of the arming grain's turn, even when the instant has passed already.
            _ = Task.Run(() => FireAsync(fresh, due), CancellationToken.None);
        }
        return entry;
    }

    private async Task FireAsync(Instant instant, Task due)
    {
        await due.ConfigureAwait(false);
        List<Entry> entries;
        lock (_lock)
        {
            _pending.Remove(instant.At);
            entries = [.. instant.Entries];
            instant.Entries.Clear();
            foreach (var entry in entries)
            {
                entry.Instant = null;
            }
        }
        if (entries.Count == 0)
        {
            return;
        }
        // Every begin is sent before any is awaited: each is a turn of its own run.
        var begins = entries.Select(e => (Entry: e, Begun: BeginOne(e))).ToList();
        try
        {
            await Task.WhenAll(begins.Select(b => b.Begun)).WaitAsync(BeginLimit, time).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // Some runs are slow to answer (activating, or on a busy silo): the answered ones go on now, the others as they answer.
        }
        using var room = new SemaphoreSlim(FollowUpsAtOnce);
        var followUps = new List<Task>(begins.Count);
        // Time spent waiting on the backlog, in real time: the backlog is the machine's, whatever clock the runs follow.
        var waited = new System.Diagnostics.Stopwatch();
        foreach (var (entry, begun) in begins)
        {
            await room.WaitAsync().ConfigureAwait(false);
            while (waited.Elapsed < PaceLimit && Backlog() > BacklogLimit)
            {
                waited.Start();
                await Task.Delay(TimeSpan.FromMilliseconds(5)).ConfigureAwait(false);
                waited.Stop();
            }
            followUps.Add(GoOnAsync(entry, begun, room));
        }
        await Task.WhenAll(followUps).ConfigureAwait(false);
    }

    private static async Task<bool> BeginOne(Entry entry)
    {
        try
        {
            return await entry.Begin().ConfigureAwait(false);
        }
        catch (Exception)
        {
            // The run is unreachable: its wake reminder begins it.
            return false;
        }
    }

    private static async Task GoOnAsync(Entry entry, Task<bool> begun, SemaphoreSlim room)
    {
        try
        {
            if (await begun.ConfigureAwait(false))
            {
                await entry.GoOn().ConfigureAwait(false);
            }
        }
        catch (Exception)
        {
            // Lost on the way: the run goes on by itself after FollowUpLimit.
        }
        finally
        {
            room.Release();
        }
    }

    private sealed class Instant(DateTimeOffset at)
    {
        public DateTimeOffset At { get; } = at;
        public HashSet<Entry> Entries { get; } = [];
    }

    private sealed class Entry(SlotClock clock, Func<Task<bool>> begin, Func<Task> goOn) : IDisposable
    {
        public Func<Task<bool>> Begin { get; } = begin;
        public Func<Task> GoOn { get; } = goOn;
        public Instant? Instant { get; set; }

        public void Dispose()
        {
            // Taken back before its instant fired (a withdrawn run, a deactivation, a re-arm); after, there is nothing to take back.
            lock (clock._lock)
            {
                Instant?.Entries.Remove(this);
                Instant = null;
            }
        }
    }
}
