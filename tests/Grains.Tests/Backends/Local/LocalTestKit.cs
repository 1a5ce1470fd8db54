using System.Collections.Immutable;
using System.Text;
using Batchyard.Backends;
using Batchyard.Backends.Local;
using Batchyard.Dags;
using Batchyard.Logs;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Batchyard.Tests.Backends.Local;

/// <summary>An in-memory attempt log that tests can wait on.</summary>
internal sealed class RecordingLog : IAttemptLog
{
    private readonly Lock _gate = new();
    private readonly StringBuilder _text = new();
    private readonly List<(Func<string, bool> Condition, TaskCompletionSource Met)> _waiters = [];

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
        lock (_gate)
        {
            _text.Append(text);
            var all = _text.ToString();
            foreach (var waiter in _waiters.Where(w => w.Condition(all)).ToList())
            {
                waiter.Met.TrySetResult();
                _waiters.Remove(waiter);
            }
        }
        return ValueTask.CompletedTask;
    }

    /// <summary>Completes when the log's text satisfies <paramref name="condition"/>; fails after <paramref name="timeout"/>.</summary>
    public async Task WaitForAsync(Func<string, bool> condition, TimeSpan timeout)
    {
        var met = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_gate)
        {
            if (condition(_text.ToString()))
            {
                return;
            }
            _waiters.Add((condition, met));
        }
        try
        {
            await met.Task.WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            Assert.Fail($"the log did not reach the expected text within {timeout}; it holds:\n{Text}");
        }
    }
}

internal static class LocalTestKit
{
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    /// <summary>A real interpreter, not a version-manager shim, so memory use is the program's own.</summary>
    public static readonly string Python = File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";

    /// <summary>A backend; <paramref name="gpus"/> is <c>Batchyard:Local:Gpus</c>, empty (no GPU, never nvidia-smi) unless a test gives a list.</summary>
    public static LocalJobBackend NewBackend(int? capacityMb = null, string? cgroupRoot = null, string? baseDirectory = null, string gpus = "") =>
        new(
            Options.Create(new LocalBackendOptions
            {
                MemoryCapacityMb = capacityMb,
                CgroupRoot = cgroupRoot,
                BaseDirectory = baseDirectory ?? Path.GetTempPath(),
                Gpus = gpus,
            }),
            TimeProvider.System,
            NullLogger<LocalJobBackend>.Instance);

    /// <summary>Tests that are about isolation must not pass quietly on a machine without it.</summary>
    public static void RequireCgroup(LocalJobBackend backend) =>
        Assert.True(
            backend.IsIsolated,
            $"this test needs a usable memory cgroup (run as root on a host with cgroup v1 or a delegated v2); isolation is '{backend.Isolation}'");

    public static JobRequest Request(
        IEnumerable<string> command,
        RecordingLog log,
        int? memoryMb = null,
        IEnumerable<string>? args = null,
        IReadOnlyDictionary<string, string>? env = null,
        string? workingDir = null,
        TimeSpan? timeout = null,
        string? jobName = null,
        double? cpus = null,
        int? gpus = null)
    {
        var name = jobName ?? $"test-{Guid.NewGuid():N}";
        return new JobRequest
        {
            Job = new JobRef { Backend = "local", JobName = name, DagId = "tests", RunId = "run-1", TaskId = name, Attempt = 1 },
            Task = new TaskDefinition
            {
                TaskId = name,
                Command = [.. command],
                Args = args is null ? [] : [.. args],
                Env = env is null ? ImmutableDictionary<string, string>.Empty : env.ToImmutableDictionary(),
                WorkingDir = workingDir,
                Resources = new TaskResources { MemoryMb = memoryMb, Cpus = cpus, Gpus = gpus },
                Timeout = timeout,
            },
            Log = log,
        };
    }

    /// <summary>Every status the watch yields, ending with the final one.</summary>
    public static async Task<List<JobStatus>> WatchToEndAsync(IJobBackend backend, JobRef job, IAttemptLog log)
    {
        using var cancel = new CancellationTokenSource(Patience);
        var statuses = new List<JobStatus>();
        await foreach (var status in backend.WatchAsync(job, log, cancel.Token))
        {
            statuses.Add(status);
        }
        Assert.True(statuses[^1].IsFinal, "a watch must end with a final status");
        return statuses;
    }

    public static async Task<JobStatus> RunAsync(IJobBackend backend, JobRequest request)
    {
        await backend.SubmitAsync(request, CancellationToken.None);
        return (await WatchToEndAsync(backend, request.Job, request.Log))[^1];
    }

    /// <summary>The status right now: a watch yields the current status first.</summary>
    public static async Task<JobStatus> CurrentAsync(IJobBackend backend, JobRef job, IAttemptLog log)
    {
        await using var watch = backend.WatchAsync(job, log, CancellationToken.None).GetAsyncEnumerator();
        Assert.True(await watch.MoveNextAsync());
        return watch.Current;
    }

    /// <summary>A python child that waits until <paramref name="file"/> exists: lets tests decide when a job ends, with no timing guesses.</summary>
    public static string[] WaitForFile(string file, string before = "", string after = "") =>
        [Python, "-c",
         $"import os, sys, time\n{before}\nwhile not os.path.exists(sys.argv[1]): time.sleep(0.02)\n{after}", file];

    public static string TempFile() => Path.Combine(Path.GetTempPath(), $"batchyard-test-{Guid.NewGuid():N}");

    /// <summary>True when the pid is gone or only a zombie waiting for a reaper (it runs no code any more).</summary>
    public static bool ProcessGone(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)..].StartsWith('Z');
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or IOException)
        {
            return true;
        }
    }
}
