using System.Collections.Immutable;
using Batchyard.Aws;
using Batchyard.Backends;
using Batchyard.Backends.SageMaker;
using Batchyard.Dags;
using Batchyard.Logs;
using Batchyard.SageMakerEmulator;
using Microsoft.Extensions.Logging.Abstractions;

namespace Batchyard.SageMaker.Tests;

/// <summary>
/// An emulator on a free loopback port plus both backends wired to it, with fast cadences. The lead's
/// end-to-end DAG tests can use it as is: <see cref="Endpoint"/>, <see cref="Credentials"/>, <see cref="Configuration"/>.
/// Disposing it fails the test if any answer of the emulator broke the service model.
/// </summary>
public sealed class SageMakerRig : IAsyncDisposable
{
    public const string RoleArn = "arn:aws:iam::123456789012:role/batchyard-test";

    private SageMakerRig(EmulatorServer emulator, SageMakerOptions options)
    {
        Emulator = emulator;
        Options = options;
        var http = new HttpClient { Timeout = Timeout.InfiniteTimeSpan };
        Http = http;
        var credentials = new StaticAwsCredentialSource(emulator.Credentials);
        SageMakerClient = new SageMakerClient(Wire(AwsServiceInfo.SageMaker, SageMakerClient.Json, credentials));
        LogsClient = new CloudWatchLogsClient(Wire(AwsServiceInfo.CloudWatchLogs, CloudWatchLogsClient.Json, credentials));
        S3Client = new S3Client(http, () => new AwsEndpoint(emulator.Url, "us-east-1"), credentials, new AwsRetryPolicy(options.Retry), TimeProvider.System, NullLogger.Instance)
        {
            AttemptTimeout = options.AttemptTimeout,
        };
        Poller = new SageMakerStatusPoller(SageMakerClient, options, TimeProvider.System, NullLogger<SageMakerStatusPoller>.Instance);
        Health = new SageMakerHealth(SageMakerClient, TimeProvider.System);
        Processing = new SageMakerProcessingBackend(SageMakerClient, LogsClient, S3Client, Poller, Health, options, TimeProvider.System, NullLogger<SageMakerProcessingBackend>.Instance);
        Training = new SageMakerTrainingBackend(SageMakerClient, LogsClient, Poller, Health, options, TimeProvider.System, NullLogger<SageMakerTrainingBackend>.Instance);
    }

    public EmulatorServer Emulator { get; }
    public SageMakerOptions Options { get; }
    public HttpClient Http { get; }
    public SageMakerClient SageMakerClient { get; }
    public CloudWatchLogsClient LogsClient { get; }
    public S3Client S3Client { get; }
    public SageMakerStatusPoller Poller { get; }
    public SageMakerHealth Health { get; }
    public SageMakerProcessingBackend Processing { get; }
    public SageMakerTrainingBackend Training { get; }

    public Uri Endpoint => Emulator.Url;
    public AwsCredentials Credentials => Emulator.Credentials;

    /// <summary>Configuration keys that point <c>AddSageMakerBackends</c> at this emulator.</summary>
    public IReadOnlyDictionary<string, string?> Configuration => new Dictionary<string, string?>
    {
        ["Batchyard:SageMaker:RoleArn"] = RoleArn,
        ["Batchyard:SageMaker:Region"] = "us-east-1",
        ["Batchyard:SageMaker:Endpoint"] = Endpoint.ToString(),
        ["Batchyard:SageMaker:LogsEndpoint"] = Endpoint.ToString(),
        ["Batchyard:SageMaker:S3Endpoint"] = Endpoint.ToString(),
        ["Batchyard:SageMaker:PollInterval"] = Options.PollInterval.ToString(),
    };

    public static async Task<SageMakerRig> StartAsync(SageMakerOptions? options = null, EmulatorSettings? settings = null)
    {
        var emulator = await EmulatorServer.StartAsync(settings);
        return new SageMakerRig(emulator, options ?? FastOptions());
    }

    /// <summary>Short poll interval and backoff so that lifecycles of a second or two stay quick to test.</summary>
    public static SageMakerOptions FastOptions() => new()
    {
        RoleArn = RoleArn,
        PollInterval = TimeSpan.FromMilliseconds(150),
        DescribeRatePerSecond = 200,
        DescribeBurst = 50,
        Region = "us-east-1",
        Retry = new AwsRetryOptions { BaseDelay = TimeSpan.FromMilliseconds(20), MaxBackoff = TimeSpan.FromMilliseconds(200) },
        AttemptTimeout = TimeSpan.FromSeconds(5),
    };

    private AwsJsonClient Wire(AwsServiceInfo service, System.Text.Json.JsonSerializerOptions json, IAwsCredentialSource credentials) =>
        new(Http, service, new AwsEndpoint(Emulator.Url, "us-east-1"), credentials, new AwsRetryPolicy(Options.Retry), json, TimeProvider.System, NullLogger.Instance)
        {
            AttemptTimeout = Options.AttemptTimeout,
        };

    public static JobRef Job(string task, int attempt = 1, string backend = "sagemaker", string? run = null, string? outputUri = null) => new()
    {
        OutputUri = outputUri,
        Backend = backend,
        JobName = $"{task}-{attempt}",
        DagId = "tests",
        RunId = run ?? Guid.NewGuid().ToString("N")[..12],
        TaskId = task,
        Attempt = attempt,
    };

    public static TaskDefinition Task(string script, string backend = "sagemaker", TimeSpan? timeout = null) => new()
    {
        TaskId = "t",
        Backend = backend,
        Image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/batch:1",
        Command = ["python", "main.py"],
        Args = ["--date", "2026-01-01"],
        Env = ImmutableDictionary<string, string>.Empty.Add(JobScript.EnvironmentKey, script).Add("STAGE", "test"),
        Timeout = timeout,
        OutputPath = backend == "sagemaker-training" ? "s3://bucket/models/" : null,
        Inputs = [new DataChannel { Name = "train", S3Uri = "s3://bucket/input/", LocalPath = "/opt/ml/processing/input" }],
        Outputs = backend == "sagemaker-training" ? [] : [new DataChannel { Name = "out", S3Uri = "s3://bucket/output/", LocalPath = "/opt/ml/processing/output" }],
    };

    public static JobRequest Request(JobRef job, TaskDefinition task, IAttemptLog log) => new() { Job = job, Task = task, Log = log };

    /// <summary>Submits the attempt (again after a transient refusal, as the supervisor does) and watches it to its end; every status seen.</summary>
    public static async Task<List<JobStatus>> RunToEndAsync(IJobBackend backend, JobRef job, TaskDefinition task, MemoryAttemptLog? log = null)
    {
        log ??= new MemoryAttemptLog();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        JobStatus first;
        while (true)
        {
            try
            {
                first = await backend.SubmitAsync(Request(job, task, log), cts.Token);
                break;
            }
            catch (TransientBackendException)
            {
                // As the supervisor does: the attempt stays queued and is submitted again a little later.
                await System.Threading.Tasks.Task.Delay(TimeSpan.FromMilliseconds(100), cts.Token);
            }
        }
        var seen = new List<JobStatus> { first };
        await foreach (var status in backend.WatchAsync(job, log, cts.Token))
        {
            seen.Add(status);
        }
        return seen;
    }

    public async ValueTask DisposeAsync()
    {
        await Poller.DisposeAsync();
        Http.Dispose();
        var breaches = Emulator.Stats.ModelBreaches;
        await Emulator.DisposeAsync();
        Assert.True(breaches.Count == 0, "the emulator answered what the service model does not allow:\n" + string.Join("\n", breaches));
    }
}

/// <summary>An attempt log in memory that tells when text arrives.</summary>
public sealed class MemoryAttemptLog(string initial = "") : IAttemptLog
{
    private readonly Lock _gate = new();
    private readonly System.Text.StringBuilder _text = new(initial);
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public ValueTask<long> GetLengthAsync(CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            return ValueTask.FromResult((long)_text.Length);
        }
    }

    public string Text
    {
        get
        {
            lock (_gate)
            {
                return _text.ToString();
            }
        }
    }

    public ValueTask AppendAsync(string text, CancellationToken cancellationToken = default)
    {
        TaskCompletionSource changed;
        lock (_gate)
        {
            _text.Append(text);
            changed = _changed;
            _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        changed.TrySetResult();
        return ValueTask.CompletedTask;
    }

    /// <summary>Waits until the log satisfies <paramref name="condition"/>, at most <paramref name="timeout"/>.</summary>
    public async Task<bool> WaitForAsync(Func<string, bool> condition, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        while (true)
        {
            Task changed;
            lock (_gate)
            {
                if (condition(_text.ToString()))
                {
                    return true;
                }
                changed = _changed.Task;
            }
            try
            {
                await changed.WaitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                return false;
            }
        }
    }
}
