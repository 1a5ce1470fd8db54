namespace Batchyard.Runs;

/// <summary>
/// The silo's clock for runs made ahead of their cron slot: one timer per slot instant, however many runs wait for
/// it, which begins every run of that instant in one pass; and a gate that lets each of those runs start its tasks
/// (and write its journal) only once all of them have begun, or after <see cref="GateLimit"/>. Ten thousand DAGs on the
/// same minute thus begin within a few hundred milliseconds of the slot instead of queueing behind each other's first
/// tasks. It holds nothing durable: a run re-arms it on activation, and its wake reminder begins it after a crash.
/// </summary>
public sealed class SlotClock([Microsoft.Extensions.DependencyInjection.FromKeyedServices(BatchyardClock.Key)] TimeProvider time)
{
    /// <summary>The longest a begun run waits for the other runs of its slot before it starts its tasks.</summary>
    public static readonly TimeSpan GateLimit = TimeSpan.FromSeconds(1);

    /// <summary>How many waiting runs go at once when a gate opens.</summary>
    private const int WaveSize = 200;

    private readonly Lock _lock = new();
    private readonly Dictionary<DateTimeOffset, Instant> _pending = [];
    private readonly Dictionary<DateTimeOffset, Gate> _gates = [];

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

    /// <summary>Calls <paramref name="begin"/> (a grain call on the run) at <paramref name="at"/>; disposing the answer takes it back.</summary>
    public IDisposable Arm(DateTimeOffset at, Func<Task> begin)
    {
        ArgumentNullException.ThrowIfNull(begin);
        var entry = new Entry(this, begin);
        lock (_lock)
        {
            if (!_pending.TryGetValue(at, out var instant))
            {
                instant = new Instant(at);
                _pending[at] = instant;
                var delay = at - time.GetUtcNow();
                _ = WaitThenFireAsync(instant, delay < TimeSpan.Zero ? TimeSpan.Zero : delay);
            }
            instant.Entries.Add(entry);
            entry.Instant = instant;
        }
        return entry;
    }

    /// <summary>
    /// A run of the slot <paramref name="at"/> has begun: completes once every run this clock began at that instant
    /// has (arrived or left), or after <see cref="GateLimit"/>; at once for a run no slot of this clock began.
    /// </summary>
    public Task ArriveAsync(DateTimeOffset at)
    {
        lock (_lock)
        {
            return _gates.TryGetValue(at, out var gate) ? gate.Arrive(this) : Task.CompletedTask;
        }
    }

    /// <summary>A run the clock called at <paramref name="at"/> did not begin (withdrawn, begun already): the others need not wait for it.</summary>
    public void Leave(DateTimeOffset at) => ArriveAsync(at);

    private async Task WaitThenFireAsync(Instant instant, TimeSpan delay)
    {
        await Task.Delay(delay, time).ConfigureAwait(false);
        List<Entry> entries;
        Gate gate;
        lock (_lock)
        {
            _pending.Remove(instant.At);
            entries = [.. instant.Entries];
            instant.Entries.Clear();
            if (entries.Count == 0)
            {
                return;
            }
            if (!_gates.TryGetValue(instant.At, out gate!))
            {
                gate = new Gate(instant.At);
                _gates[instant.At] = gate;
            }
            gate.Expect(entries.Count);
        }
        _ = OpenLaterAsync(gate);
        foreach (var entry in entries)
        {
            try
            {
                // One-way: each begins as a turn of its own run; this pass only hands them out.
                _ = entry.Begin();
            }
            catch (Exception)
            {
                // The run is unreachable: its wake reminder begins it.
                Leave(instant.At);
            }
        }
    }

    private async Task OpenLaterAsync(Gate gate)
    {
        await Task.Delay(GateLimit, time).ConfigureAwait(false);
        lock (_lock)
        {
            Open(gate);
        }
    }

    private void Open(Gate gate)
    {
        if (_gates.TryGetValue(gate.At, out var current) && current == gate)
        {
            _gates.Remove(gate.At);
        }
        if (gate.Open() is { Count: > 0 } waiting)
        {
            _ = ReleaseInWavesAsync(waiting);
        }
    }

    /// <summary>Lets the waiting runs go a wave at a time, each wave queued behind what the last one set going, so that the API's requests get their turns meanwhile.</summary>
    private static async Task ReleaseInWavesAsync(List<TaskCompletionSource> waiting)
    {
        for (var i = 0; i < waiting.Count; i += WaveSize)
        {
            if (i > 0)
            {
                await Task.Yield();
            }
            foreach (var run in waiting.Skip(i).Take(WaveSize))
            {
                run.TrySetResult();
            }
        }
    }

    private sealed class Instant(DateTimeOffset at)
    {
        public DateTimeOffset At { get; } = at;
        public List<Entry> Entries { get; } = [];
    }

    private sealed class Entry(SlotClock clock, Func<Task> begin) : IDisposable
    {
        public Func<Task> Begin { get; } = begin;
        public Instant? Instant { get; set; }

        public void Dispose()
        {
            // Taken back before its instant fired (a withdrawn run, a deactivation); after, there is nothing to take back.
            lock (clock._lock)
            {
                Instant?.Entries.Remove(this);
                Instant = null;
            }
        }
    }

    private sealed class Gate(DateTimeOffset at)
    {
        private int _expected;
        private List<TaskCompletionSource>? _waiting = [];

        public DateTimeOffset At { get; } = at;

        public void Expect(int count) => _expected += count;

        /// <summary>One more run has begun (or left): its wait, done at once when the gate is open; the last arrival opens it.</summary>
        public Task Arrive(SlotClock clock)
        {
            if (_waiting is null)
            {
                return Task.CompletedTask;
            }
            var wait = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiting.Add(wait);
            if (--_expected <= 0)
            {
                clock.Open(this);
            }
            return wait.Task;
        }

        /// <summary>Opens the gate: the runs that wait, to be let go; null when it was open already.</summary>
        public List<TaskCompletionSource>? Open()
        {
            var waiting = _waiting;
            _waiting = null;
            return waiting;
        }
    }
}
