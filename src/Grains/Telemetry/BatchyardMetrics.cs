using System.Diagnostics.Metrics;

namespace Batchyard.Telemetry;

/// <summary>
/// Batchyard's own meter, every instrument in one place. Names follow OpenTelemetry's dotted style; the
/// Prometheus exporter turns <c>batchyard.runs</c> into <c>batchyard_runs_total</c> and a histogram of unit
/// <c>s</c> into <c>…_seconds</c>, which gives the names of DESIGN.md. Labels are bounded sets (DAG ids,
/// backends, states, operations): never a run, task or attempt id.
/// </summary>
public sealed class BatchyardMetrics
{
    public const string MeterName = "Batchyard";

    // Seconds from a few milliseconds (noop tasks, journal commits) to a day (SageMaker training).
    private static readonly double[] SecondsBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14400, 86400];
    private static readonly double[] StorageBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
    private static readonly long[] BatchBuckets = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000];

    private readonly Counter<long> _runs;
    private readonly Counter<long> _attempts;
    private readonly Histogram<double> _taskDuration;
    private readonly Histogram<double> _lateness;
    private readonly Counter<long> _sageMakerRequests;
    private readonly Histogram<double> _storageWrite;
    private readonly Histogram<long> _journalBatch;
    private readonly Lock _gate = new();
    private readonly List<Func<(long InUse, long Capacity)>> _localMemory = [];

    public BatchyardMetrics(IMeterFactory meters)
    {
        ArgumentNullException.ThrowIfNull(meters);
        var meter = meters.Create(MeterName);
        _runs = meter.CreateCounter<long>("batchyard.runs", description: "Runs that reached an end state, by DAG and state");
        _attempts = meter.CreateCounter<long>("batchyard.task_attempts", description: "Task attempts that ended, by backend and outcome");
        _taskDuration = meter.CreateHistogram("batchyard.task_duration", "s", "How long ended attempts ran (from start, or from queued when they never ran)",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = SecondsBuckets });
        _lateness = meter.CreateHistogram("batchyard.schedule_lateness", "s", "How long after its cron slot a scheduled run started",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = SecondsBuckets });
        _sageMakerRequests = meter.CreateCounter<long>("batchyard.sagemaker_requests", description: "AWS requests of the SageMaker backends (each try), by operation and outcome");
        _storageWrite = meter.CreateHistogram("batchyard.storage_write", "s", "Latency of one run-journal commit",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = StorageBuckets });
        _journalBatch = meter.CreateHistogram("batchyard.journal_batch_events", description: "Events written by one run-journal commit",
            advice: new InstrumentAdvice<long> { HistogramBucketBoundaries = BatchBuckets });
        meter.CreateObservableGauge("batchyard.local_memory_in_use", () => LocalMemory(m => m.InUse), "By", "Memory the local backend has handed out to running jobs");
        meter.CreateObservableGauge("batchyard.local_memory_capacity", () => LocalMemory(m => m.Capacity), "By", "Memory the local backend may hand out on this host");
    }

    /// <summary>A run reached an end state (counted again when a cleared run ends again).</summary>
    public void RunEnded(string dagId, string state) =>
        _runs.Add(1, new KeyValuePair<string, object?>("dag", dagId), new KeyValuePair<string, object?>("state", state));

    /// <summary>An attempt ended with <paramref name="outcome"/> (its state: succeeded, failed, timed_out, cancelled).</summary>
    public void AttemptEnded(string backend, string outcome, TimeSpan? ran)
    {
        var labels = new System.Diagnostics.TagList { { "backend", backend }, { "outcome", outcome } };
        _attempts.Add(1, labels);
        if (ran is { } duration)
        {
            _taskDuration.Record(Math.Max(0, duration.TotalSeconds), labels);
        }
    }

    /// <summary>A scheduled run started <paramref name="late"/> after its slot.</summary>
    public void ScheduledRunStarted(string dagId, TimeSpan late) =>
        _lateness.Record(Math.Max(0, late.TotalSeconds), new KeyValuePair<string, object?>("dag", dagId));

    /// <summary>One try of an AWS request; <paramref name="outcome"/> comes from <see cref="AwsOutcomes"/>.</summary>
    public void SageMakerRequest(string operation, string outcome) =>
        _sageMakerRequests.Add(1, new KeyValuePair<string, object?>("operation", operation), new KeyValuePair<string, object?>("outcome", outcome));

    /// <summary>One journal commit of <paramref name="events"/> events that took <paramref name="elapsed"/> (<paramref name="store"/>: memory or postgres).</summary>
    public void JournalCommitted(string store, int events, TimeSpan elapsed)
    {
        var label = new KeyValuePair<string, object?>("store", store);
        _storageWrite.Record(elapsed.TotalSeconds, label);
        _journalBatch.Record(events, label);
    }

    /// <summary>Adds a local backend whose memory the gauges report (one per silo; tests may have several).</summary>
    public void ObserveLocalMemory(Func<(long InUse, long Capacity)> read)
    {
        lock (_gate)
        {
            _localMemory.Add(read);
        }
    }

    private long LocalMemory(Func<(long InUse, long Capacity), long> pick)
    {
        lock (_gate)
        {
            return _localMemory.Sum(read => pick(read()));
        }
    }
}
