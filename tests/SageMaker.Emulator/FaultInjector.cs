namespace Batchyard.SageMakerEmulator;

/// <summary>Decides, call by call, whether to answer with a fault instead.</summary>
public sealed class FaultInjector
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

    public Fault Next(string operation)
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
            return new { calls = new Dictionary<string, int>(_calls), faults = new Dictionary<string, int>(_faults) };
        }
    }
}
