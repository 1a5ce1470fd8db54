namespace Batchyard.SageMakerEmulator;

/// <summary>Decides, call by call, whether to answer with a fault instead, and counts both in <see cref="EmulatorStats"/>.</summary>
public sealed class FaultInjector(EmulatorStats stats)
{
    private readonly Lock _gate = new();
    private FaultSettings _settings = new();
    private Random _random = new(1);

    public FaultSettings Settings
    {
        get
        {
            lock (_gate)
            {
                return _settings;
            }
        }
        set
        {
            lock (_gate)
            {
                _settings = value;
                _random = new Random(value.Seed ?? 1);
            }
        }
    }

    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, int> _capacityRefusals = new(StringComparer.Ordinal);

    /// <summary>
    /// The <c>ResourceLimitExceeded</c> message a create of job <paramref name="name"/> is refused with, or null:
    /// <see cref="FaultSettings.ResourceLimitTimes"/> refusals per job name, and every create while
    /// <see cref="FaultSettings.ResourceLimitInstances"/> instances of its type are in progress.
    /// </summary>
    public string? RefuseForCapacity(JobKind kind, string name, string instanceType, int instanceCount, JobStore jobs, DateTimeOffset now)
    {
        var s = Settings;
        var refused = false;
        var inUse = jobs.InstancesInProgress(instanceType, now);
        var usage = kind == JobKind.Training ? "training job usage" : "processing job usage";
        if (s.ResourceLimitInstances is { } limit && inUse + instanceCount > limit)
        {
            refused = true;
        }
        else if (s.ResourceLimitTimes > 0)
        {
            var count = _capacityRefusals.AddOrUpdate(name, 1, (_, n) => n + 1);
            refused = count <= s.ResourceLimitTimes;
        }
        if (!refused)
        {
            return null;
        }
        stats.CapacityRefused();
        var quota = s.ResourceLimitInstances ?? 0;
        return $"The account-level service limit '{instanceType} for {usage}' is {quota} Instances, with current utilization of {inUse} Instances and a request delta of {instanceCount} Instances. Please use AWS Service Quotas to request an increase for this quota. If AWS Service Quotas is not available, contact AWS support to request an increase for this quota.";
    }

    /// <summary>Counts a call to <paramref name="operation"/> and says which fault (if any) it is answered with.</summary>
    public Fault Decide(string operation)
    {
        stats.Call(operation);
        var fault = Draw(operation);
        if (fault != Fault.None)
        {
            stats.Faulted(fault);
        }
        return fault;
    }

    private Fault Draw(string operation)
    {
        lock (_gate)
        {
            var s = _settings;
            if (s.Operations.Count > 0 && !s.Operations.Contains(operation))
            {
                return Fault.None;
            }
            var roll = _random.NextDouble();
            if ((roll -= s.ThrottleRate) < 0) return Fault.Throttle;
            if ((roll -= s.InternalErrorRate) < 0) return Fault.InternalError;
            if ((roll -= s.UnavailableRate) < 0) return Fault.Unavailable;
            if ((roll -= s.SlowRate) < 0) return Fault.Slow;
            return Fault.None;
        }
    }
}

public enum Fault
{
    None,
    Throttle,
    InternalError,
    Unavailable,
    Slow,
}

/// <summary>What the emulator has answered, for tests and the throttling-storm figure.</summary>
public sealed class EmulatorStats
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, int> _calls = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _faults = new(StringComparer.Ordinal);
    private readonly List<string> _breaches = [];
    private readonly List<(string Operation, string TraceParent)> _traceParents = [];

    public void Call(string operation)
    {
        lock (_gate)
        {
            _calls[operation] = _calls.GetValueOrDefault(operation) + 1;
        }
    }

    public void Faulted(Fault fault)
    {
        lock (_gate)
        {
            _faults[fault.ToString()] = _faults.GetValueOrDefault(fault.ToString()) + 1;
        }
    }

    /// <summary>A create was refused <c>ResourceLimitExceeded</c>.</summary>
    public void CapacityRefused()
    {
        lock (_gate)
        {
            _faults["ResourceLimitExceeded"] = _faults.GetValueOrDefault("ResourceLimitExceeded") + 1;
        }
    }

    /// <summary>Creates refused <c>ResourceLimitExceeded</c> so far.</summary>
    public int CapacityRefusals
    {
        get
        {
            lock (_gate)
            {
                return _faults.GetValueOrDefault("ResourceLimitExceeded");
            }
        }
    }

    /// <summary>An answer that the service model would not allow.</summary>
    public void ModelBreach(string operation, IEnumerable<string> problems)
    {
        lock (_gate)
        {
            _breaches.AddRange(problems.Select(p => $"{operation}: {p}"));
        }
    }

    /// <summary>Every breach of the service model in the emulator's answers so far (none is expected).</summary>
    public IReadOnlyList<string> ModelBreaches
    {
        get
        {
            lock (_gate)
            {
                return [.. _breaches];
            }
        }
    }

    public int Calls(string operation)
    {
        lock (_gate)
        {
            return _calls.GetValueOrDefault(operation);
        }
    }

    public int TotalCalls
    {
        get
        {
            lock (_gate)
            {
                return _calls.Values.Sum();
            }
        }
    }

    /// <summary>A request whose signature was accepted carried this <c>traceparent</c> (empty: none).</summary>
    public void Traced(string operation, string traceParent)
    {
        lock (_gate)
        {
            _traceParents.Add((operation, traceParent));
        }
    }

    /// <summary>The <c>traceparent</c> of every request whose signature was accepted, in order.</summary>
    public IReadOnlyList<(string Operation, string TraceParent)> TraceParents
    {
        get
        {
            lock (_gate)
            {
                return [.. _traceParents];
            }
        }
    }

    public int FaultCount(Fault fault)
    {
        lock (_gate)
        {
            return _faults.GetValueOrDefault(fault.ToString());
        }
    }

    public object Snapshot()
    {
        lock (_gate)
        {
            return new { calls = new Dictionary<string, int>(_calls), faults = new Dictionary<string, int>(_faults), modelBreaches = _breaches.ToList() };
        }
    }
}
