using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Batchyard.Aws;
using Microsoft.Extensions.Logging;

namespace Batchyard.Backends.SageMaker;

/// <summary>
/// The one place a silo reads SageMaker job status. Every watcher of a job shares one Describe per
/// <see cref="SageMakerOptions.PollInterval"/>, and all Describe calls of the silo draw from one token
/// bucket, so many running jobs slow the cadence down instead of getting the account throttled. Failed
/// reads (throttling, 5xx, network) are logged and tried again on the next tick: they never reach a task.
/// </summary>
public sealed partial class SageMakerStatusPoller : IAsyncDisposable
{
    private const int MaxConcurrentReads = 8;

    private readonly SageMakerClient _client;
    private readonly SageMakerOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<SageMakerStatusPoller> _logger;
    private readonly TokenBucket _budget;
    private readonly ConcurrentDictionary<(SageMakerJobKind, string), Entry> _entries = new();
    private readonly ConcurrentDictionary<(SageMakerJobKind, string), byte> _stopRequested = new();
    private readonly SemaphoreSlim _concurrency = new(MaxConcurrentReads);
    private readonly CancellationTokenSource _stopping = new();
    private readonly Lock _gate = new();
    private TaskCompletionSource _wake = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task? _loop;
    private long _describeCalls;

    public SageMakerStatusPoller(SageMakerClient client, SageMakerOptions options, TimeProvider time, ILogger<SageMakerStatusPoller> logger)
    {
        _client = client;
        _options = options;
        _time = time;
        _logger = logger;
        _budget = new TokenBucket(options.DescribeRatePerSecond, Math.Max(1, options.DescribeBurst), time);
    }

    /// <summary>Describe calls made so far (for tests and metrics).</summary>
    public long DescribeCalls => Interlocked.Read(ref _describeCalls);

    /// <summary>Jobs being followed right now.</summary>
    public int FollowedJobs => _entries.Count;

    /// <summary>Remembers that Batchyard asked this job to stop, so that its Stopped is not read as a failure.</summary>
    public void MarkStopRequested(SageMakerJobKind kind, string name) => _stopRequested[(kind, name)] = 0;

    public bool WasStopRequested(SageMakerJobKind kind, string name) => _stopRequested.ContainsKey((kind, name));

    /// <summary>Yields one snapshot per poll of the job, until the caller stops listening.</summary>
    public async IAsyncEnumerable<SageMakerJobSnapshot> FollowAsync(SageMakerJobKind kind, string name, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var channel = Channel.CreateBounded<SageMakerJobSnapshot>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropOldest });
        var key = (kind, name);
        var entry = _entries.GetOrAdd(key, _ => new Entry(_time.GetUtcNow()));
        lock (entry)
        {
            entry.Subscribers.Add(channel.Writer);
            // The reads of this job join the trace of whoever follows it (the attempt's watch).
            entry.Parent ??= System.Diagnostics.Activity.Current?.Context;
            // A new watcher wants an answer now, not at the end of someone else's interval.
            entry.NextDue = _time.GetUtcNow();
        }
        EnsureLoop();
        Wake();
        try
        {
            await foreach (var snapshot in channel.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                yield return snapshot;
            }
        }
        finally
        {
            lock (entry)
            {
                entry.Subscribers.Remove(channel.Writer);
                if (entry.Subscribers.Count == 0)
                {
                    _entries.TryRemove(new KeyValuePair<(SageMakerJobKind, string), Entry>(key, entry));
                }
            }
        }
    }

    /// <summary>One Describe outside the cadence (submit, stop), through the same budget, persisting through transient errors.</summary>
    public async Task<SageMakerJobSnapshot> ReadNowAsync(SageMakerJobKind kind, string name, CancellationToken cancellationToken)
    {
        for (var failures = 0; ; failures++)
        {
            try
            {
                return await DescribeAsync(kind, name, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (AwsRetryPolicy.IsRetryable(e) || e is TimeoutException)
            {
                LogReadFailed(_logger, kind, name, e.Message);
                await Task.Delay(TransientDelay(failures), _time, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>How long to wait after the n-th transient failure in a row: grows, but never beyond the poll interval.</summary>
    public TimeSpan TransientDelay(int failures)
    {
        var seconds = Math.Min(_options.PollInterval.TotalSeconds, Math.Pow(2, Math.Min(failures, 10)) * 0.25);
        return TimeSpan.FromSeconds(seconds * (0.5 + Random.Shared.NextDouble() / 2));
    }

    private async Task<SageMakerJobSnapshot> DescribeAsync(SageMakerJobKind kind, string name, CancellationToken cancellationToken)
    {
        await _budget.TakeAsync(cancellationToken).ConfigureAwait(false);
        Interlocked.Increment(ref _describeCalls);
        try
        {
            return kind == SageMakerJobKind.Processing
                ? SageMakerJobSnapshot.From(await _client.DescribeProcessingJobAsync(name, cancellationToken).ConfigureAwait(false))
                : SageMakerJobSnapshot.From(await _client.DescribeTrainingJobAsync(name, cancellationToken).ConfigureAwait(false));
        }
        catch (AwsValidationException)
        {
            // SageMaker answers a Describe of an unknown name with ValidationException, not ResourceNotFound.
            return SageMakerJobSnapshot.NotFound(kind, name);
        }
    }

    private void EnsureLoop()
    {
        lock (_gate)
        {
            _loop ??= Task.Run(() => RunAsync(_stopping.Token));
        }
    }

    private void Wake()
    {
        lock (_gate)
        {
            _wake.TrySetResult();
        }
    }

    private async Task RunAsync(CancellationToken stopping)
    {
        // The loop serves every job: it must not carry the span of the watcher that happened to start it.
        System.Diagnostics.Activity.Current = null;
        while (!stopping.IsCancellationRequested)
        {
            Task wake;
            lock (_gate)
            {
                if (_wake.Task.IsCompleted)
                {
                    _wake = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                }
                wake = _wake.Task;
            }

            var now = _time.GetUtcNow();
            var next = now + _options.PollInterval;
            foreach (var (key, entry) in _entries)
            {
                DateTimeOffset due;
                lock (entry)
                {
                    due = entry.NextDue;
                    if (due <= now && !entry.Reading)
                    {
                        entry.Reading = true;
                        entry.NextDue = now + _options.PollInterval;
                        due = entry.NextDue;
                        _ = PollAsync(key, entry, stopping);
                    }
                }
                if (due < next)
                {
                    next = due;
                }
            }

            var wait = next - _time.GetUtcNow();
            if (wait > TimeSpan.Zero)
            {
                try
                {
                    await Task.WhenAny(wake, Task.Delay(wait, _time, stopping)).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
            else
            {
                await Task.Yield();
            }
        }
    }

    private async Task PollAsync((SageMakerJobKind Kind, string Name) key, Entry entry, CancellationToken stopping)
    {
        try
        {
            await _concurrency.WaitAsync(stopping).ConfigureAwait(false);
            try
            {
                using var span = entry.Parent is { } parent
                    ? Batchyard.Telemetry.BatchyardTracing.Source.StartActivity($"describe {key.Kind}", System.Diagnostics.ActivityKind.Internal, parent)?.SetTag("batchyard.job", key.Name)
                    : null;
                var snapshot = await DescribeAsync(key.Kind, key.Name, stopping).ConfigureAwait(false);
                lock (entry)
                {
                    entry.Failures = 0;
                    foreach (var subscriber in entry.Subscribers)
                    {
                        subscriber.TryWrite(snapshot);
                    }
                }
            }
            finally
            {
                _concurrency.Release();
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            return;
        }
        catch (Exception e) when (e is AwsServiceException or HttpRequestException or IOException or TimeoutException)
        {
            LogReadFailed(_logger, key.Kind, key.Name, e.Message);
            lock (entry)
            {
                // Come back sooner than a full interval, but back off while the failures go on.
                entry.NextDue = _time.GetUtcNow() + TransientDelay(++entry.Failures);
            }
        }
        finally
        {
            lock (entry)
            {
                entry.Reading = false;
            }
            Wake();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        if (_loop is not null)
        {
            await _loop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
        _stopping.Dispose();
        _concurrency.Dispose();
    }

    private sealed class Entry(DateTimeOffset nextDue)
    {
        public List<ChannelWriter<SageMakerJobSnapshot>> Subscribers { get; } = [];
        public DateTimeOffset NextDue { get; set; } = nextDue;
        public bool Reading { get; set; }
        public int Failures { get; set; }
        public System.Diagnostics.ActivityContext? Parent { get; set; }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Reading SageMaker {Kind} job {JobName} failed, will try again: {Error}")]
    private static partial void LogReadFailed(ILogger logger, SageMakerJobKind kind, string jobName, string error);
}
