using System.Globalization;
using Batchyard.Backends;
using Batchyard.Backends.Local;
using Batchyard.Dags;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using static Batchyard.Tests.Backends.Local.LocalTestKit;

namespace Batchyard.Tests.Backends.Local;

/// <summary>Process behaviour of the local backend: exit codes, output, env, budget, idempotency.</summary>
public sealed class LocalJobBackendTests
{
    [Fact]
    public async Task ExitCodeZero_Succeeds()
    {
        await using var backend = NewBackend();
        var log = new RecordingLog();

        var status = await RunAsync(backend, Request(["true"], log));

        Assert.Equal(JobState.Succeeded, status.State);
        Assert.Equal(0, status.ExitCode);
    }

    [Fact]
    public async Task OutputFile_BecomesTheAttemptsOutput()
    {
        await using var backend = NewBackend();

        var status = await RunAsync(backend, Request(["sh", "-c", "printf '{\"shards\": [\"a\", \"b\"], \"auc\": 0.9}' > \"$BATCHYARD_OUTPUT\""], new RecordingLog()));

        Assert.Equal(JobState.Succeeded, status.State);
        Assert.Equal("""{"shards":["a","b"],"auc":0.9}""", status.Output);
    }

    [Fact]
    public async Task NoOutputFile_SucceedsWithoutOutput()
    {
        await using var backend = NewBackend();

        var status = await RunAsync(backend, Request(["sh", "-c", "test -n \"$BATCHYARD_OUTPUT\""], new RecordingLog()));

        Assert.Equal(JobState.Succeeded, status.State);
        Assert.Null(status.Output);
    }

    [Theory]
    [InlineData("printf '[1, 2]' > \"$BATCHYARD_OUTPUT\"", "output is not a JSON object")]
    [InlineData("printf '{\"a\": ' > \"$BATCHYARD_OUTPUT\"", "output is not JSON")]
    [InlineData("head -c 70000 /dev/zero | tr '\\0' 'x' | sed 's/^/{\"a\":\"/; s/$/\"}/' > \"$BATCHYARD_OUTPUT\"", "output too large")]
    public async Task BadOutputFile_FailsTheAttemptWithTheReason(string script, string reason)
    {
        await using var backend = NewBackend();

        var status = await RunAsync(backend, Request(["sh", "-c", script], new RecordingLog()));

        Assert.Equal(JobState.Failed, status.State);
        Assert.StartsWith(reason, status.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task NonZeroExitCode_FailsWithExitCodeReason()
    {
        await using var backend = NewBackend();

        var status = await RunAsync(backend, Request(["sh", "-c", "exit 3"], new RecordingLog()));

        Assert.Equal(JobState.Failed, status.State);
        Assert.Equal(3, status.ExitCode);
        Assert.Equal("exit code 3", status.Reason);
    }

    [Fact]
    public async Task KilledBySignal_FailsWithSignalReason()
    {
        await using var backend = NewBackend();

        var status = await RunAsync(backend, Request(["sh", "-c", "kill -TERM $$"], new RecordingLog()));

        Assert.Equal(JobState.Failed, status.State);
        Assert.Equal("killed by signal 15", status.Reason);
    }

    [Theory]
    [InlineData("/nonexistent/batchyard-no-such-program")]
    [InlineData("batchyard-no-such-program")]
    public async Task MissingExecutable_FailsWithClearReason(string command)
    {
        await using var backend = NewBackend();

        var submitted = await backend.SubmitAsync(Request([command], new RecordingLog()), CancellationToken.None);

        Assert.Equal(JobState.Failed, submitted.State);
        Assert.Contains("executable not found", submitted.Reason, StringComparison.Ordinal);
        Assert.Contains("batchyard-no-such-program", submitted.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EnvAndRelativeWorkingDir_ArePassedToTheChild()
    {
        var baseDirectory = Directory.CreateTempSubdirectory("batchyard-base-").FullName;
        var work = Directory.CreateDirectory(Path.Combine(baseDirectory, "work")).FullName;
        await using var backend = NewBackend(baseDirectory: baseDirectory);
        var log = new RecordingLog();

        var status = await RunAsync(backend, Request(
            ["sh", "-c", "echo \"FOO=$FOO\"; pwd; echo \"PATH_SET=${PATH:+yes}\""],
            log,
            env: new Dictionary<string, string> { ["FOO"] = "bar baz" },
            workingDir: "work"));

        Assert.Equal(JobState.Succeeded, status.State);
        var lines = log.Text.Split('\n');
        Assert.Contains("FOO=bar baz", lines);
        Assert.Contains(work, lines);
        // The task's env is added to the silo's, not a replacement for it.
        Assert.Contains("PATH_SET=yes", lines);
        Directory.Delete(baseDirectory, recursive: true);
    }

    [Fact]
    public async Task Arguments_ReachTheProgramLiterally_NoShell()
    {
        await using var backend = NewBackend();
        var log = new RecordingLog();
        const string Tricky = "a  b; echo injected $(id -u) *";

        var status = await RunAsync(backend, Request(["/bin/echo"], log, args: [Tricky]));

        Assert.Equal(JobState.Succeeded, status.State);
        Assert.Equal(Tricky + "\n", log.Text);
    }

    [Fact]
    public async Task Output_IsInTheLogWhileTheJobStillRuns()
    {
        await using var backend = NewBackend();
        var log = new RecordingLog();
        var release = TempFile();
        var request = Request(
            WaitForFile(release, before: "print('first', flush=True)\nprint('to stderr', file=sys.stderr, flush=True)", after: "print('second')"),
            log);

        await backend.SubmitAsync(request, CancellationToken.None);
        await log.WaitForAsync(t => t.Contains("first\n", StringComparison.Ordinal) && t.Contains("to stderr\n", StringComparison.Ordinal), Patience);
        var whileWaiting = await CurrentAsync(backend, request.Job, log);
        var textWhileWaiting = log.Text;
        await File.WriteAllTextAsync(release, "");
        var final = (await WatchToEndAsync(backend, request.Job, log))[^1];

        Assert.Equal(JobState.Running, whileWaiting.State);
        Assert.DoesNotContain("second", textWhileWaiting, StringComparison.Ordinal);
        Assert.Equal(JobState.Succeeded, final.State);
        Assert.Contains("second\n", log.Text, StringComparison.Ordinal);
        File.Delete(release);
    }

    [Fact]
    public async Task MemoryBudget_QueuesSecondJobUntilFirstEnds()
    {
        await using var backend = NewBackend(capacityMb: 100);
        var release = TempFile();
        var firstLog = new RecordingLog();
        var first = Request(WaitForFile(release), firstLog, memoryMb: 80);
        var second = Request(["true"], new RecordingLog(), memoryMb: 50);

        var firstSubmitted = await backend.SubmitAsync(first, CancellationToken.None);
        var secondSubmitted = await backend.SubmitAsync(second, CancellationToken.None);
        using var cancel = new CancellationTokenSource(Patience);
        var secondStates = new List<JobState>();
        JobStatus? firstWhenSecondRan = null;
        var watchSecond = Task.Run(async () =>
        {
            await foreach (var status in backend.WatchAsync(second.Job, second.Log, cancel.Token))
            {
                secondStates.Add(status.State);
                if (status.State == JobState.Running)
                {
                    firstWhenSecondRan = await CurrentAsync(backend, first.Job, firstLog);
                }
            }
        });
        var secondWhileFirstRuns = await CurrentAsync(backend, second.Job, second.Log);
        await File.WriteAllTextAsync(release, "");
        await watchSecond;

        Assert.Equal(JobState.Running, firstSubmitted.State);
        Assert.Equal(JobState.Queued, secondSubmitted.State);
        Assert.Equal(JobState.Queued, secondWhileFirstRuns.State);
        Assert.Equal([JobState.Queued, JobState.Running, JobState.Succeeded], secondStates);
        Assert.NotNull(firstWhenSecondRan);
        Assert.Equal(JobState.Succeeded, firstWhenSecondRan.State);
        Assert.Equal(0, backend.MemoryInUseMb);
        File.Delete(release);
    }

    [Fact]
    public async Task JobAskingMoreThanCapacity_FailsAtOnce()
    {
        await using var backend = NewBackend(capacityMb: 100);

        var status = await backend.SubmitAsync(Request(["true"], new RecordingLog(), memoryMb: 101), CancellationToken.None);

        Assert.Equal(JobState.Failed, status.State);
        Assert.Contains("capacity of 100 MB", status.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StopAsync_OnQueuedJob_StopsItWithoutRunning()
    {
        await using var backend = NewBackend(capacityMb: 100);
        var release = TempFile();
        var marker = TempFile();
        var first = Request(WaitForFile(release), new RecordingLog(), memoryMb: 100);
        var second = Request(["sh", "-c", "touch \"$1\"", "sh", marker], new RecordingLog(), memoryMb: 10);
        await backend.SubmitAsync(first, CancellationToken.None);
        await backend.SubmitAsync(second, CancellationToken.None);

        await backend.StopAsync(second.Job, CancellationToken.None);
        await File.WriteAllTextAsync(release, "");
        var firstFinal = (await WatchToEndAsync(backend, first.Job, first.Log))[^1];
        var secondFinal = (await WatchToEndAsync(backend, second.Job, second.Log))[^1];

        Assert.Equal(JobState.Succeeded, firstFinal.State);
        Assert.Equal(JobState.Stopped, secondFinal.State);
        Assert.False(File.Exists(marker));
        File.Delete(release);
    }

    [Fact]
    public async Task SubmitAsync_SameJobNameTwice_RunsOnce()
    {
        await using var backend = NewBackend();
        var counter = TempFile();
        var request = Request(["sh", "-c", "echo ran >> \"$1\"", "sh", counter], new RecordingLog());

        var firstSubmit = await backend.SubmitAsync(request, CancellationToken.None);
        var secondSubmit = await backend.SubmitAsync(request, CancellationToken.None);
        await WatchToEndAsync(backend, request.Job, request.Log);
        var afterEnd = await backend.SubmitAsync(request, CancellationToken.None);

        Assert.Equal(firstSubmit.JobId, secondSubmit.JobId);
        Assert.Equal(JobState.Succeeded, afterEnd.State);
        Assert.Equal(["ran"], await File.ReadAllLinesAsync(counter));
        File.Delete(counter);
    }

    [Fact]
    public async Task WatchAsync_UnknownJob_YieldsLost()
    {
        await using var backend = NewBackend();
        var job = Request(["true"], new RecordingLog()).Job;

        var statuses = await WatchToEndAsync(backend, job, new RecordingLog());

        var only = Assert.Single(statuses);
        Assert.Equal(JobState.Lost, only.State);
        Assert.Equal("the silo running this job stopped", only.Reason);
    }

    [Fact]
    public async Task WithoutCgroup_JobsStillRun_AndIsolationSaysWhy()
    {
        await using var backend = NewBackend(cgroupRoot: "/nonexistent/batchyard-cgroup-root");
        var log = new RecordingLog();

        var status = await RunAsync(backend, Request(["/bin/echo", "hello"], log, memoryMb: 64));

        Assert.False(backend.IsIsolated);
        Assert.StartsWith("none: ", backend.Isolation, StringComparison.Ordinal);
        Assert.Contains("/nonexistent/batchyard-cgroup-root", backend.Isolation, StringComparison.Ordinal);
        Assert.Equal(JobState.Succeeded, status.State);
        Assert.Equal("hello\n", log.Text);
    }

    [Fact]
    public async Task WithoutCgroup_StopAsync_KillsTheProcessTree()
    {
        await using var backend = NewBackend(cgroupRoot: "/nonexistent/batchyard-cgroup-root");
        var log = new RecordingLog();
        var request = Request(["sh", "-c", "sleep 300 & echo $!; echo $$; wait"], log);

        await backend.SubmitAsync(request, CancellationToken.None);
        await log.WaitForAsync(t => t.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length == 2, Patience);
        var pids = log.Text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(p => int.Parse(p, CultureInfo.InvariantCulture)).ToList();
        await backend.StopAsync(request.Job, CancellationToken.None);
        var final = await CurrentAsync(backend, request.Job, log);

        Assert.Equal(JobState.Stopped, final.State);
        Assert.All(pids, pid => Assert.True(ProcessGone(pid), $"pid {pid} still runs"));
    }

    [Fact]
    public async Task Validate_ReportsEveryProblemWithItsPath()
    {
        await using var backend = NewBackend(capacityMb: 100, cgroupRoot: "/nonexistent");
        var bad = new TaskDefinition { TaskId = "t", Resources = new TaskResources { MemoryMb = 0, Cpus = 0 } };
        var tooBig = new TaskDefinition { TaskId = "t", Command = ["true"], Resources = new TaskResources { MemoryMb = 101 } };
        var good = new TaskDefinition { TaskId = "t", Command = ["true"], Resources = new TaskResources { MemoryMb = 100, Cpus = 0.5 } };

        Assert.Equal(["command", "resources.memory_mb", "resources.cpus"], backend.Validate(bad).Select(p => p.Path));
        Assert.Equal(["resources.memory_mb"], backend.Validate(tooBig).Select(p => p.Path));
        Assert.Empty(backend.Validate(good));
    }

    [Fact]
    public async Task AddLocalBackend_BindsBatchyardLocalAndRegistersOneInstance()
    {
        var config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Batchyard:Local:MemoryCapacityMb"] = "321",
            ["Batchyard:Local:CgroupRoot"] = "/nonexistent/batchyard-cgroup-root",
        }).Build();
        await using var provider = new ServiceCollection().AddLogging().AddLocalBackend(config).BuildServiceProvider();

        var backend = provider.GetRequiredService<LocalJobBackend>();

        Assert.Same(backend, provider.GetRequiredService<IJobBackend>());
        Assert.Equal(321, backend.MemoryCapacityMb);
        Assert.Equal("local", backend.Name);
    }
}
