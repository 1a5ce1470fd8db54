using Batchyard.Backends;
using Batchyard.Backends.Local;
using Batchyard.Backends.SageMaker;
using Batchyard.Dags;
using Batchyard.Tests.Dags;
using static Batchyard.Tests.Backends.Local.LocalTestKit;

namespace Batchyard.Tests.Backends.Local;

/// <summary>Whole GPUs handed out to local jobs: real child processes that print what they were given; the GPUs are a configured list.</summary>
public sealed class LocalGpuTests
{
    /// <summary>A child that prints the GPU variables it was given, then holds its GPUs until <paramref name="release"/> exists.</summary>
    private static string[] PrintGpusThenWait(string release) => WaitForFile(
        release,
        before: "print('cuda=' + os.environ.get('CUDA_VISIBLE_DEVICES', '<unset>') + ' nvidia=' + os.environ.get('NVIDIA_VISIBLE_DEVICES', '<unset>'), flush=True)");

    /// <summary>The <c>cuda=… nvidia=…</c> line a job printed.</summary>
    private static (string Cuda, string Nvidia) Printed(RecordingLog log)
    {
        var line = log.Text.Split('\n').Single(l => l.StartsWith("cuda=", StringComparison.Ordinal));
        var parts = line.Split(' ');
        return (parts[0]["cuda=".Length..], parts[1]["nvidia=".Length..]);
    }

    private static Task GpuLinePrinted(RecordingLog log) => log.WaitForAsync(t => t.Contains("cuda=", StringComparison.Ordinal), Patience);

    [Fact]
    public async Task TwoGpusThreeJobs_EachSeesOnlyItsOwnGpu_TheThirdWaitsForOneToEnd_AllSucceed()
    {
        await using var backend = NewBackend(capacityMb: 1000, gpus: "0,1");
        var releases = new[] { TempFile(), TempFile(), TempFile() };
        var logs = new[] { new RecordingLog(), new RecordingLog(), new RecordingLog() };
        var jobs = Enumerable.Range(0, 3).Select(i => Request(PrintGpusThenWait(releases[i]), logs[i], memoryMb: 10, gpus: 1, jobName: $"gpu-job-{i}-{Guid.NewGuid():N}")).ToArray();

        var first = await backend.SubmitAsync(jobs[0], CancellationToken.None);
        var second = await backend.SubmitAsync(jobs[1], CancellationToken.None);
        var third = await backend.SubmitAsync(jobs[2], CancellationToken.None);
        await GpuLinePrinted(logs[0]);
        await GpuLinePrinted(logs[1]);
        var health = LocalBackendHealth.Of(backend);

        // The third starts only once a GPU is free: when it runs, the first (whose GPU it takes) has ended.
        using var cancel = new CancellationTokenSource(Patience);
        JobStatus? firstWhenThirdRan = null;
        var thirdStates = new List<JobState>();
        var watchThird = Task.Run(async () =>
        {
            await foreach (var status in backend.WatchAsync(jobs[2].Job, logs[2], cancel.Token))
            {
                thirdStates.Add(status.State);
                if (status.State == JobState.Running && firstWhenThirdRan is null)
                {
                    firstWhenThirdRan = await CurrentAsync(backend, jobs[0].Job, logs[0]);
                }
            }
        });
        var thirdWhileTwoRun = await CurrentAsync(backend, jobs[2].Job, logs[2]);
        await File.WriteAllTextAsync(releases[0], "");
        await GpuLinePrinted(logs[2]);
        await File.WriteAllTextAsync(releases[1], "");
        await File.WriteAllTextAsync(releases[2], "");
        await watchThird;
        var finals = new List<JobStatus>();
        foreach (var job in jobs)
        {
            finals.Add((await WatchToEndAsync(backend, job.Job, job.Log))[^1]);
        }

        Assert.Equal(JobState.Running, first.State);
        Assert.Equal(JobState.Running, second.State);
        Assert.Equal(JobState.Queued, third.State);
        Assert.Equal(JobState.Queued, thirdWhileTwoRun.State);
        Assert.Equal("waiting for 1 GPU: 0 of 2 free", thirdWhileTwoRun.Reason);

        var seen = logs.Select(Printed).ToArray();
        Assert.All(seen, s => Assert.Equal(s.Cuda, s.Nvidia));
        Assert.Equal<string>(["0", "1"], new[] { seen[0].Cuda, seen[1].Cuda }.Order());
        Assert.Equal(seen[0].Cuda, seen[2].Cuda);
        Assert.Equal(seen[0].Cuda, first.Details["gpus"]);
        Assert.Equal(seen[1].Cuda, second.Details["gpus"]);

        Assert.NotNull(firstWhenThirdRan);
        Assert.True(firstWhenThirdRan.IsFinal, $"the third job ran while the first still held GPU {seen[0].Cuda} ({firstWhenThirdRan.State})");
        Assert.Contains(JobState.Running, thirdStates);
        Assert.All(finals, f => Assert.Equal(JobState.Succeeded, f.State));

        Assert.Equal("2 / 2 (Batchyard:Local:Gpus)", health.Fact(LocalBackendHealth.GpusFact));
        Assert.Contains(jobs[0].Job.TaskId, health.Fact(LocalBackendHealth.GpuFactPrefix + seen[0].Cuda), StringComparison.Ordinal);
        Assert.Contains(jobs[1].Job.TaskId, health.Fact(LocalBackendHealth.GpuFactPrefix + seen[1].Cuda), StringComparison.Ordinal);
        Assert.All(backend.GpuHolders, h => Assert.Null(h.Holder));
        Assert.Equal("0 / 2 (Batchyard:Local:Gpus)", LocalBackendHealth.Of(backend).Fact(LocalBackendHealth.GpusFact));
        foreach (var release in releases)
        {
            File.Delete(release);
        }
    }

    [Fact]
    public async Task FailedJob_GivesItsGpuBack()
    {
        await using var backend = NewBackend(capacityMb: 1000, gpus: "7");
        var failing = Request(["sh", "-c", "exit 3"], new RecordingLog(), memoryMb: 10, gpus: 1);
        var next = Request(PrintGpusThenWait("/"), new RecordingLog(), memoryMb: 10, gpus: 1);

        var failed = await RunAsync(backend, failing);
        var after = await RunAsync(backend, next);

        Assert.Equal(JobState.Failed, failed.State);
        Assert.Equal("exit code 3", failed.Reason);
        Assert.Equal(JobState.Succeeded, after.State);
        Assert.Equal(("7", "7"), Printed((RecordingLog)next.Log));
        Assert.All(backend.GpuHolders, h => Assert.Null(h.Holder));
    }

    [Fact]
    public async Task TimedOutJob_AndJobThatCannotStart_GiveTheirGpuBack()
    {
        await using var backend = NewBackend(capacityMb: 1000, gpus: "0");
        var slow = Request(PrintGpusThenWait(TempFile()), new RecordingLog(), memoryMb: 10, gpus: 1, timeout: TimeSpan.FromSeconds(1));
        var missing = Request(["/nonexistent/train"], new RecordingLog(), memoryMb: 10, gpus: 1);
        var next = Request(PrintGpusThenWait("/"), new RecordingLog(), memoryMb: 10, gpus: 1);

        var timedOut = await RunAsync(backend, slow);
        var notStarted = await RunAsync(backend, missing);
        var after = await RunAsync(backend, next);

        Assert.Equal(JobState.TimedOut, timedOut.State);
        Assert.Equal(JobState.Failed, notStarted.State);
        Assert.Contains("executable not found", notStarted.Reason, StringComparison.Ordinal);
        Assert.Equal(JobState.Succeeded, after.State);
        Assert.Equal(("0", "0"), Printed((RecordingLog)next.Log));
        Assert.All(backend.GpuHolders, h => Assert.Null(h.Holder));
    }

    [Fact]
    public async Task StoppedJob_GivesItsGpuBack_ToTheJobWaitingForIt()
    {
        await using var backend = NewBackend(capacityMb: 1000, gpus: "0");
        var holder = Request(PrintGpusThenWait(TempFile()), new RecordingLog(), memoryMb: 10, gpus: 1);
        var waiter = Request(PrintGpusThenWait("/"), new RecordingLog(), memoryMb: 10, gpus: 1);
        await backend.SubmitAsync(holder, CancellationToken.None);
        var waiting = await backend.SubmitAsync(waiter, CancellationToken.None);
        await GpuLinePrinted((RecordingLog)holder.Log);

        await backend.StopAsync(holder.Job, CancellationToken.None);
        var stopped = (await WatchToEndAsync(backend, holder.Job, holder.Log))[^1];
        var after = (await WatchToEndAsync(backend, waiter.Job, waiter.Log))[^1];

        Assert.Equal(JobState.Queued, waiting.State);
        Assert.Equal(JobState.Stopped, stopped.State);
        Assert.Equal(JobState.Succeeded, after.State);
        Assert.Equal(("0", "0"), Printed((RecordingLog)waiter.Log));
        Assert.All(backend.GpuHolders, h => Assert.Null(h.Holder));
    }

    [Fact]
    public async Task JobWithoutGpus_OnAGpuHost_SeesNone_AndIsNotHeldUpByAJobWaitingForAGpu()
    {
        await using var backend = NewBackend(capacityMb: 1000, gpus: "0");
        var release = TempFile();
        var holder = Request(PrintGpusThenWait(release), new RecordingLog(), memoryMb: 10, gpus: 1);
        var gpuWaiter = Request(PrintGpusThenWait("/"), new RecordingLog(), memoryMb: 10, gpus: 1);
        var cpuJob = Request(PrintGpusThenWait("/"), new RecordingLog(), memoryMb: 10);
        await backend.SubmitAsync(holder, CancellationToken.None);
        await backend.SubmitAsync(gpuWaiter, CancellationToken.None);
        await backend.SubmitAsync(cpuJob, CancellationToken.None);

        var cpuFinal = (await WatchToEndAsync(backend, cpuJob.Job, cpuJob.Log))[^1];
        var gpuWaiterMeanwhile = await CurrentAsync(backend, gpuWaiter.Job, gpuWaiter.Log);
        await File.WriteAllTextAsync(release, "");
        var gpuWaiterFinal = (await WatchToEndAsync(backend, gpuWaiter.Job, gpuWaiter.Log))[^1];

        Assert.Equal(JobState.Succeeded, cpuFinal.State);
        Assert.Equal(("", "none"), Printed((RecordingLog)cpuJob.Log));
        Assert.Equal(JobState.Queued, gpuWaiterMeanwhile.State);
        Assert.Equal(JobState.Succeeded, gpuWaiterFinal.State);
        File.Delete(release);
    }

    [Fact]
    public async Task Validate_GpusOnAHostWithoutGpus_OrMoreThanItHas_IsRefused()
    {
        await using var none = NewBackend(capacityMb: 100, gpus: "");
        await using var two = NewBackend(capacityMb: 100, gpus: "0,1");
        TaskDefinition Asking(int gpus) => new() { TaskId = "t", Command = ["true"], Resources = new TaskResources { Gpus = gpus } };

        var withoutGpus = Assert.Single(none.Validate(Asking(1)));
        var tooMany = Assert.Single(two.Validate(Asking(3)));

        Assert.Equal("resources.gpus", withoutGpus.Path);
        Assert.Contains("this host has no GPUs", withoutGpus.Message, StringComparison.Ordinal);
        Assert.Equal("resources.gpus", tooMany.Path);
        Assert.Contains("3 GPUs is more than this host has: 2", tooMany.Message, StringComparison.Ordinal);
        Assert.Empty(two.Validate(Asking(2)));
        Assert.Equal(JobState.Failed, (await none.SubmitAsync(Request(["true"], new RecordingLog(), gpus: 1), CancellationToken.None)).State);
    }

    [Fact]
    public async Task DagFile_AskingForAGpuThisHostDoesNotHave_IsRefusedWithFileAndLine()
    {
        await using var none = NewBackend(capacityMb: 100, gpus: "");
        await using var two = NewBackend(capacityMb: 100, gpus: "0,1");
        const string Text = "tasks:\n  train:\n    backend: local\n    command: [python3, train.py]\n    resources: { gpus: 2 }\n";

        var refused = DagParser.Parse("train.yaml", Text, new BackendCatalog([none]), "train");
        var accepted = DagParser.Parse("train.yaml", Text, new BackendCatalog([two]), "train");

        var problem = Assert.Single(refused.Problems).ToString();
        Assert.StartsWith("train.yaml:5: ", problem, StringComparison.Ordinal);
        Assert.Contains("no GPUs", problem, StringComparison.Ordinal);
        Assert.True(accepted.Ok, string.Join("\n", accepted.Problems));
        Assert.Equal(2, accepted.Dag!.Tasks.Single().Resources.Gpus);
    }

    [Fact]
    public void DagFile_GpusBelowOne_IsRefused()
    {
        var result = DagParser.Parse("train.yaml", "tasks:\n  train:\n    backend: local\n    command: [true]\n    resources: { gpus: 0 }\n", TestBackends.Catalog, "train");

        Assert.Contains("train.yaml:5: 'resources.gpus' must be at least 1, found 0", result.Problems.Select(p => p.ToString()));
    }

    [Fact]
    public void SageMakerTask_AskingForGpus_IsRefused()
    {
        var task = new TaskDefinition { TaskId = "t", Backend = "sagemaker", Image = "img", Resources = new TaskResources { InstanceType = "ml.g4dn.xlarge", Gpus = 1 } };

        var problems = SageMakerTaskMapping.Validate(task, SageMakerJobKind.Processing, "arn:aws:iam::123456789012:role/batchyard").ToList();

        var gpus = Assert.Single(problems, p => p.Path == "resources.gpus");
        Assert.Contains("instance type", gpus.Message, StringComparison.Ordinal);
    }
}

public sealed class HostGpusTests
{
    private const string NvidiaSmiOutput =
        "GPU 0: NVIDIA A100-SXM4-40GB (UUID: GPU-5f1b2c3d-0000-1111-2222-333344445555)\n" +
        "  MIG 1g.5gb     Device  0: (UUID: MIG-8a9b0c1d-0000-1111-2222-333344445555)\n" +
        "GPU 1: Tesla T4 (UUID: GPU-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee)\r\n" +
        "No devices were found\n";

    [Fact]
    public void ParseNvidiaSmiList_ReadsWholeGpusWithNameAndUuid_SkippingMigSlicesAndOtherLines()
    {
        var gpus = HostGpus.ParseNvidiaSmiList(NvidiaSmiOutput);

        Assert.Equal<NvidiaGpu>(
            [
                new NvidiaGpu(0, "NVIDIA A100-SXM4-40GB", "GPU-5f1b2c3d-0000-1111-2222-333344445555"),
                new NvidiaGpu(1, "Tesla T4", "GPU-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"),
            ],
            gpus);
    }

    [Theory]
    [InlineData("0,1", "0|1")]
    [InlineData(" 2, 3 ,2", "2|3")]
    [InlineData("GPU-a,GPU-b", "GPU-a|GPU-b")]
    [InlineData("none", "")]
    [InlineData("", "")]
    public void ParseConfigured_ReadsACommaSeparatedList(string text, string expected) =>
        Assert.Equal(expected, string.Join("|", HostGpus.ParseConfigured(text)));

    [Fact]
    public void Find_Configured_NeverAsksNvidiaSmi()
    {
        var gpus = HostGpus.Find("0,1", nvidiaSmi: "/nonexistent/nvidia-smi");

        Assert.Equal<string>(["0", "1"], gpus.Ids);
        Assert.Equal("Batchyard:Local:Gpus", gpus.Source);
    }

    [Fact]
    public void Find_NotConfigured_UsesTheIndexesNvidiaSmiLists()
    {
        var script = LocalTestKit.TempFile();
        File.WriteAllText(script, "#!/bin/sh\n[ \"$1\" = -L ] || exit 9\ncat <<'EOF'\n" + NvidiaSmiOutput + "EOF\n");
        Assert.False(OperatingSystem.IsWindows(), "the local backend runs on Linux");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        var gpus = HostGpus.Find(null, nvidiaSmi: script);

        Assert.Equal<string>(["0", "1"], gpus.Ids);
        Assert.Equal("nvidia-smi -L", gpus.Source);
        File.Delete(script);
    }

    [Theory]
    [InlineData("/nonexistent/nvidia-smi")]
    [InlineData("/bin/false")]
    public void Find_NvidiaSmiMissingOrFailing_MeansNoGpus_AndSaysWhy(string nvidiaSmi)
    {
        var gpus = HostGpus.Find(null, nvidiaSmi);

        Assert.Empty(gpus.Ids);
        Assert.StartsWith("none: Batchyard:Local:Gpus is not set and nvidia-smi -L failed", gpus.Source, StringComparison.Ordinal);
    }
}
