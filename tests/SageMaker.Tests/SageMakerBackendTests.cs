using Batchyard.Backends;
using Batchyard.Backends.SageMaker;
using Batchyard.SageMakerEmulator;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Batchyard.SageMaker.Tests;

public sealed class SageMakerBackendTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Processing_job_that_completes_succeeds_with_its_log()
    {
        await using var rig = await SageMakerRig.StartAsync();
        var log = new MemoryAttemptLog();
        // Running for 2 s: a poll on a loaded machine missed a 600 ms window (Queued, Queued, Succeeded).
        var seen = await SageMakerRig.RunToEndAsync(rig.Processing, SageMakerRig.Job("ok"), SageMakerRig.Task("queued=100ms;run=2s;lines=3"), log);

        Assert.Equal(JobState.Succeeded, seen[^1].State);
        Assert.Equal(0, seen[^1].ExitCode);
        Assert.Contains(seen, s => s.State == JobState.Running);
        Assert.Contains("line 3 of 3", log.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Processing_job_that_fails_reports_failure_reason_and_exit_message()
    {
        await using var rig = await SageMakerRig.StartAsync();
        var seen = await SageMakerRig.RunToEndAsync(rig.Processing, SageMakerRig.Job("bad"), SageMakerRig.Task("run=300ms;outcome=failed;reason=AlgorithmError: OOM;exit=killed by signal 9"), new MemoryAttemptLog());

        Assert.Equal(JobState.Failed, seen[^1].State);
        Assert.Contains("AlgorithmError: OOM", seen[^1].Reason, StringComparison.Ordinal);
        Assert.Contains("killed by signal 9", seen[^1].Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Processing_job_over_its_max_runtime_is_timed_out()
    {
        await using var rig = await SageMakerRig.StartAsync();
        var seen = await SageMakerRig.RunToEndAsync(rig.Processing, SageMakerRig.Job("slow"), SageMakerRig.Task("run=30s", timeout: TimeSpan.FromSeconds(1)), new MemoryAttemptLog());

        Assert.Equal(JobState.TimedOut, seen[^1].State);
    }

    [Fact]
    public async Task Training_job_over_its_max_runtime_is_timed_out_and_keeps_secondary_statuses_and_billable_seconds()
    {
        await using var rig = await SageMakerRig.StartAsync();
        var seen = await SageMakerRig.RunToEndAsync(rig.Training, SageMakerRig.Job("train", backend: "sagemaker-training"),
            SageMakerRig.Task("run=30s", backend: "sagemaker-training", timeout: TimeSpan.FromSeconds(1)), new MemoryAttemptLog());

        var last = seen[^1];
        Assert.Equal(JobState.TimedOut, last.State);
        Assert.Equal("MaxRuntimeExceeded", last.Details["secondaryStatus"]);
        Assert.Contains("Training@", last.Details["secondaryStatusTransitions"], StringComparison.Ordinal);
        Assert.True(int.Parse(last.Details["billableSeconds"], System.Globalization.CultureInfo.InvariantCulture) >= 1);
    }

    [Fact]
    public async Task Training_job_that_completes_succeeds()
    {
        await using var rig = await SageMakerRig.StartAsync();
        var seen = await SageMakerRig.RunToEndAsync(rig.Training, SageMakerRig.Job("train-ok", backend: "sagemaker-training"),
            SageMakerRig.Task("run=400ms", backend: "sagemaker-training"), new MemoryAttemptLog());

        Assert.Equal(JobState.Succeeded, seen[^1].State);
        Assert.Equal("Completed", seen[^1].Details["secondaryStatus"]);
    }

    [Fact]
    public async Task Submitting_the_same_attempt_twice_creates_one_job_and_adopts_it()
    {
        await using var rig = await SageMakerRig.StartAsync();
        var job = SageMakerRig.Job("twice");
        var task = SageMakerRig.Task("run=5s");
        var first = await rig.Processing.SubmitAsync(SageMakerRig.Request(job, task, new MemoryAttemptLog()), CancellationToken.None);
        var second = await rig.Processing.SubmitAsync(SageMakerRig.Request(job, task, new MemoryAttemptLog()), CancellationToken.None);

        Assert.Single(rig.Emulator.Jobs.All);
        Assert.Equal(1, rig.Emulator.Stats.Calls("CreateProcessingJob"));
        Assert.Equal(first.JobId, second.JobId);
    }

    [Fact]
    public async Task Create_answered_ResourceInUse_adopts_the_existing_job()
    {
        await using var rig = await SageMakerRig.StartAsync();
        var job = SageMakerRig.Job("race");
        var task = SageMakerRig.Task("run=5s");
        // Another silo made the job between our Describe and our Create: make it directly, then only fail Describe's "missing" view by racing.
        await rig.SageMakerClient.CreateProcessingJobAsync(SageMakerTaskMapping.ProcessingRequest(SageMakerJobNames.For(job), SageMakerRig.Request(job, task, new MemoryAttemptLog()), SageMakerRig.RoleArn), CancellationToken.None);
        var error = await Assert.ThrowsAsync<Batchyard.Aws.AwsResourceInUseException>(() =>
            rig.SageMakerClient.CreateProcessingJobAsync(SageMakerTaskMapping.ProcessingRequest(SageMakerJobNames.For(job), SageMakerRig.Request(job, task, new MemoryAttemptLog()), SageMakerRig.RoleArn), CancellationToken.None));
        var status = await rig.Processing.SubmitAsync(SageMakerRig.Request(job, task, new MemoryAttemptLog()), CancellationToken.None);

        Assert.Equal("ResourceInUse", error.ErrorCode);
        Assert.False(status.IsFinal);
        Assert.Single(rig.Emulator.Jobs.All);
    }

    [Fact]
    public async Task Stop_stops_the_job_and_the_watch_ends_Stopped()
    {
        await using var rig = await SageMakerRig.StartAsync();
        var job = SageMakerRig.Job("stop");
        var log = new MemoryAttemptLog();
        using var cts = new CancellationTokenSource(Patience);
        await rig.Processing.SubmitAsync(SageMakerRig.Request(job, SageMakerRig.Task("queued=50ms;run=60s"), log), cts.Token);
        var statuses = new List<JobStatus>();
        var watching = Task.Run(async () =>
        {
            await foreach (var s in rig.Processing.WatchAsync(job, log, cts.Token))
            {
                statuses.Add(s);
            }
        });

        await rig.Processing.StopAsync(job, cts.Token);
        await watching;

        Assert.Equal(JobState.Stopped, statuses[^1].State);
        Assert.Equal(1, rig.Emulator.Stats.Calls("StopProcessingJob"));
    }

    [Fact]
    public async Task Stopped_job_that_Batchyard_did_not_stop_is_a_failure()
    {
        await using var rig = await SageMakerRig.StartAsync();
        var job = SageMakerRig.Job("stopped-elsewhere");
        var log = new MemoryAttemptLog();
        using var cts = new CancellationTokenSource(Patience);
        await rig.Processing.SubmitAsync(SageMakerRig.Request(job, SageMakerRig.Task("run=60s"), log), cts.Token);
        await rig.SageMakerClient.StopProcessingJobAsync(SageMakerJobNames.For(job), cts.Token);

        JobStatus? last = null;
        await foreach (var s in rig.Processing.WatchAsync(job, log, cts.Token))
        {
            last = s;
        }

        Assert.Equal(JobState.Failed, last!.State);
    }

    [Fact]
    public async Task Logs_appear_while_the_job_runs()
    {
        await using var rig = await SageMakerRig.StartAsync();
        var job = SageMakerRig.Job("logs");
        var log = new MemoryAttemptLog();
        using var cts = new CancellationTokenSource(Patience);
        await rig.Processing.SubmitAsync(SageMakerRig.Request(job, SageMakerRig.Task("queued=50ms;run=20s;lines=40"), log), cts.Token);
        using var watchCts = CancellationTokenSource.CreateLinkedTokenSource(cts.Token);
        var watching = Task.Run(async () =>
        {
            await foreach (var s in rig.Processing.WatchAsync(job, log, watchCts.Token))
            {
                _ = s;
            }
        });

        var sawEarlyLine = await log.WaitForAsync(t => t.Contains("line 1 of 40", StringComparison.Ordinal), TimeSpan.FromSeconds(15));
        var view = rig.Emulator.Jobs.Find(JobKind.Processing, SageMakerJobNames.For(job))!.ViewAt(DateTimeOffset.UtcNow);
        await watchCts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => watching);

        Assert.True(sawEarlyLine);
        Assert.Equal("InProgress", view.Status);
        Assert.DoesNotContain("line 40 of 40", log.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Reattaching_does_not_write_the_log_twice()
    {
        await using var rig = await SageMakerRig.StartAsync();
        var job = SageMakerRig.Job("reattach");
        var log = new MemoryAttemptLog();
        using var cts = new CancellationTokenSource(Patience);
        await rig.Processing.SubmitAsync(SageMakerRig.Request(job, SageMakerRig.Task("queued=50ms;run=3s;lines=6"), log), cts.Token);
        using (var firstWatch = CancellationTokenSource.CreateLinkedTokenSource(cts.Token))
        {
            var watching = Task.Run(async () =>
            {
                await foreach (var s in rig.Processing.WatchAsync(job, log, firstWatch.Token))
                {
                    _ = s;
                }
            });
            Assert.True(await log.WaitForAsync(t => t.Contains("line 2 of 6", StringComparison.Ordinal), TimeSpan.FromSeconds(15)));
            await firstWatch.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => watching);
        }

        // A new silo re-attaches with the same log and the same JobRef.
        await foreach (var s in rig.Processing.WatchAsync(job, log, cts.Token))
        {
            _ = s;
        }

        for (var line = 1; line <= 6; line++)
        {
            var text = $"line {line} of 6";
            Assert.Equal(1, CountOf(log.Text, text));
        }
    }

    [Fact]
    public async Task Throttling_storm_fails_no_job()
    {
        const int Jobs = 12;
        await using var rig = await SageMakerRig.StartAsync();
        rig.Emulator.Faults.Settings = new FaultSettings { ThrottleRate = 0.5, Seed = 7 };
        var outcomes = await Task.WhenAll(Enumerable.Range(0, Jobs).Select(async i =>
        {
            var seen = await SageMakerRig.RunToEndAsync(rig.Processing, SageMakerRig.Job($"storm-{i}"), SageMakerRig.Task("queued=100ms;run=800ms;lines=2"), new MemoryAttemptLog());
            return seen[^1].State;
        }));

        var throttled = rig.Emulator.Stats.FaultCount(Fault.Throttle);
        var total = rig.Emulator.Stats.TotalCalls;
        Console.WriteLine($"throttling storm: {Jobs} jobs, {throttled}/{total} answers throttled ({100.0 * throttled / total:F0}%), {outcomes.Count(o => o != JobState.Succeeded)} failed");
        Assert.All(outcomes, o => Assert.Equal(JobState.Succeeded, o));
        Assert.True(throttled > total / 4, $"the storm should throttle many answers, throttled {throttled} of {total}");
        Assert.Equal(Jobs, rig.Emulator.Jobs.All.Count());
    }

    [Fact]
    public async Task Server_errors_and_unavailability_are_retried_without_failing_the_job()
    {
        await using var rig = await SageMakerRig.StartAsync();
        rig.Emulator.Faults.Settings = new FaultSettings { InternalErrorRate = 0.25, UnavailableRate = 0.25, Seed = 3 };
        var seen = await SageMakerRig.RunToEndAsync(rig.Processing, SageMakerRig.Job("5xx"), SageMakerRig.Task("run=500ms"), new MemoryAttemptLog());

        Assert.Equal(JobState.Succeeded, seen[^1].State);
        Assert.True(rig.Emulator.Stats.FaultCount(Fault.InternalError) + rig.Emulator.Stats.FaultCount(Fault.Unavailable) > 0);
    }

    [Fact]
    public async Task One_Describe_per_poll_interval_for_a_running_job_however_many_watchers()
    {
        await using var rig = await SageMakerRig.StartAsync(SageMakerRig.FastOptions() with { PollInterval = TimeSpan.FromMilliseconds(500) });
        var job = SageMakerRig.Job("cadence");
        using var cts = new CancellationTokenSource(Patience);
        await rig.Processing.SubmitAsync(SageMakerRig.Request(job, SageMakerRig.Task("queued=0s;run=4s;lines=0"), new MemoryAttemptLog()), cts.Token);
        var describesBefore = rig.Emulator.Stats.Calls("DescribeProcessingJob");
        async Task Watch()
        {
            await foreach (var s in rig.Processing.WatchAsync(job, new MemoryAttemptLog(), cts.Token))
            {
                _ = s;
            }
        }
        var started = DateTimeOffset.UtcNow;
        await Task.WhenAll(Watch(), Watch(), Watch());
        var elapsed = DateTimeOffset.UtcNow - started;
        var describes = rig.Emulator.Stats.Calls("DescribeProcessingJob") - describesBefore;

        var perInterval = describes / (elapsed / rig.Options.PollInterval);
        Console.WriteLine($"cadence: {describes} Describe calls over {elapsed.TotalSeconds:F1}s at {rig.Options.PollInterval.TotalMilliseconds} ms = {perInterval:F2} per interval (3 watchers)");
        // Three watchers share the poller: about one read per interval (+1 for each watcher's immediate first read).
        Assert.True(describes <= elapsed / rig.Options.PollInterval + 4, $"{describes} describes in {elapsed}");
    }

    [Fact]
    public async Task AddSageMakerBackends_registers_both_backends_against_the_configured_endpoint()
    {
        await using var rig = await SageMakerRig.StartAsync();
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(rig.Configuration).Build();
        var services = new ServiceCollection()
            .AddLogging()
            .AddSingleton<Batchyard.Aws.IAwsCredentialSource>(new Batchyard.Aws.StaticAwsCredentialSource(rig.Credentials))
            .AddSageMakerBackends(configuration);
        await using var provider = services.BuildServiceProvider();
        var catalog = new BackendCatalog(provider.GetServices<IJobBackend>());

        var backend = catalog.Get("sagemaker");
        var status = await backend.SubmitAsync(SageMakerRig.Request(SageMakerRig.Job("di"), SageMakerRig.Task("run=1s"), new MemoryAttemptLog()), CancellationToken.None);

        Assert.Equal(["sagemaker", "sagemaker-training"], catalog.Names);
        Assert.Equal(JobState.Queued, status.State);
        Assert.Equal(TimeSpan.FromMilliseconds(150), provider.GetRequiredService<SageMakerOptions>().PollInterval);
        Assert.Equal(rig.Endpoint, provider.GetRequiredService<Batchyard.Aws.S3Client>().Endpoint.Url);
    }

    private static int CountOf(string text, string value)
    {
        var count = 0;
        for (var at = text.IndexOf(value, StringComparison.Ordinal); at >= 0; at = text.IndexOf(value, at + value.Length, StringComparison.Ordinal))
        {
            count++;
        }
        return count;
    }
}
