using System.Globalization;
using Batchyard.Backends;
using static Batchyard.Tests.Backends.Local.LocalTestKit;

namespace Batchyard.Tests.Backends.Local;

/// <summary>What the cgroup gives: memory limits enforced by the kernel, whole-tree kill, cleanup. Needs a usable cgroup.</summary>
public sealed class LocalJobBackendIsolationTests
{
    [Fact]
    public async Task Sweep_RemovesADeadSilosJobCgroupWithItsProcesses_AndKeepsLiveJobs()
    {
        await using var backend = NewBackend();
        RequireCgroup(backend);
        var release = TempFile();
        var log = new RecordingLog();
        var live = Request(WaitForFile(release), log, memoryMb: 32);
        var running = await backend.SubmitAsync(live, CancellationToken.None);
        var liveCgroup = running.Details["cgroup"];

        // What a silo killed with -9 leaves: a job cgroup named after a process that no longer exists,
        // with a grandchild of the job still running in it.
        using var gone = System.Diagnostics.Process.Start("true")!;
        await gone.WaitForExitAsync();
        var orphan = Path.Combine(Path.GetDirectoryName(liveCgroup)!, $"p{gone.Id}.dag__run__task__1");
        Directory.CreateDirectory(orphan);
        using var leftover = System.Diagnostics.Process.Start("sleep", "300")!;
        await File.WriteAllTextAsync(Path.Combine(orphan, "cgroup.procs"), leftover.Id.ToString(CultureInfo.InvariantCulture));

        await backend.SweepOrphansAsync(CancellationToken.None);

        Assert.False(Directory.Exists(orphan), "the orphaned cgroup is still there");
        Assert.True(leftover.WaitForExit(10_000), "the orphaned process still runs");
        Assert.True(Directory.Exists(liveCgroup), "the sweep removed a live job's cgroup");
        Assert.StartsWith($"p{Environment.ProcessId}.", Path.GetFileName(liveCgroup), StringComparison.Ordinal);
        await File.WriteAllTextAsync(release, "");
        Assert.Equal(JobState.Succeeded, (await WatchToEndAsync(backend, live.Job, log))[^1].State);
        File.Delete(release);
    }

    [Fact]
    public async Task JobOverItsMemory_IsOomKilledAlone_WhileSiblingSucceeds()
    {
        await using var backend = NewBackend();
        RequireCgroup(backend);
        var release = TempFile();
        var hog = Request(
            [Python, "-c", "a = []\nwhile True: a.append(bytearray(8 * 1024 * 1024))"],
            new RecordingLog(),
            memoryMb: 64);
        var sibling = Request(
            WaitForFile(release, before: "x = bytearray(16 * 1024 * 1024)", after: "print('sibling done')"),
            new RecordingLog(),
            memoryMb: 64);

        var siblingSubmitted = await backend.SubmitAsync(sibling, CancellationToken.None);
        await backend.SubmitAsync(hog, CancellationToken.None);
        var hogFinal = (await WatchToEndAsync(backend, hog.Job, hog.Log))[^1];
        var siblingWhenHogDied = await CurrentAsync(backend, sibling.Job, sibling.Log);
        await File.WriteAllTextAsync(release, "");
        var siblingFinal = (await WatchToEndAsync(backend, sibling.Job, sibling.Log))[^1];

        Assert.Equal(JobState.Failed, hogFinal.State);
        Assert.Equal("OutOfMemory", hogFinal.Reason);
        Assert.Equal(JobState.Running, siblingSubmitted.State);
        Assert.Equal(JobState.Running, siblingWhenHogDied.State);
        Assert.Equal(JobState.Succeeded, siblingFinal.State);
        Assert.Contains("sibling done", sibling.Log is RecordingLog l ? l.Text : "", StringComparison.Ordinal);
        File.Delete(release);
    }

    [Fact]
    public async Task RunningJob_IsInItsOwnCgroupWithItsMemoryLimitAndCpuQuota()
    {
        await using var backend = NewBackend();
        RequireCgroup(backend);
        var release = TempFile();
        var log = new RecordingLog();
        var request = Request(WaitForFile(release, before: "print(open('/proc/self/cgroup').read(), flush=True)"), log, memoryMb: 96, cpus: 0.5);

        var running = await backend.SubmitAsync(request, CancellationToken.None);
        await log.WaitForAsync(t => t.Contains("memory:", StringComparison.Ordinal) || t.Contains("0::", StringComparison.Ordinal), Patience);
        var cgroup = running.Details["cgroup"];
        var limitFile = File.Exists(Path.Combine(cgroup, "memory.limit_in_bytes")) ? "memory.limit_in_bytes" : "memory.max";
        var limit = long.Parse((await File.ReadAllTextAsync(Path.Combine(cgroup, limitFile))).Trim(), CultureInfo.InvariantCulture);
        var procs = await File.ReadAllTextAsync(Path.Combine(cgroup, "cgroup.procs"));
        var cpuQuota = ReadCpuQuota(cgroup, log.Text);
        await File.WriteAllTextAsync(release, "");
        var final = (await WatchToEndAsync(backend, request.Job, log))[^1];

        Assert.Equal(96L * 1024 * 1024, limit);
        Assert.Contains(running.Details["pid"], procs.Split('\n'));
        Assert.Contains(Path.GetFileName(cgroup), log.Text, StringComparison.Ordinal);
        if (backend.Isolation.Contains("; cpu ", StringComparison.Ordinal) || backend.Isolation.StartsWith("cgroup v2 (", StringComparison.Ordinal) && !backend.Isolation.Contains("no cpu", StringComparison.Ordinal))
        {
            Assert.Equal("50000", cpuQuota);
        }
        Assert.Equal(JobState.Succeeded, final.State);
        Assert.False(Directory.Exists(cgroup), $"cgroup {cgroup} should be removed after the job");
        File.Delete(release);
    }

    [Fact]
    public async Task StopAsync_KillsWholeTree_AndRemovesTheCgroup()
    {
        await using var backend = NewBackend();
        RequireCgroup(backend);
        var log = new RecordingLog();
        var request = Request(["sh", "-c", "sleep 300 & echo $!; echo $$; wait"], log);

        var running = await backend.SubmitAsync(request, CancellationToken.None);
        await log.WaitForAsync(t => t.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length == 2, Patience);
        var pids = log.Text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(p => int.Parse(p, CultureInfo.InvariantCulture)).ToList();
        Assert.All(pids, pid => Assert.False(ProcessGone(pid), $"pid {pid} should run before the stop"));
        await backend.StopAsync(request.Job, CancellationToken.None);
        var final = await CurrentAsync(backend, request.Job, log);

        Assert.Equal(JobState.Stopped, final.State);
        Assert.All(pids, pid => Assert.True(ProcessGone(pid), $"pid {pid} still runs after the stop"));
        Assert.False(Directory.Exists(running.Details["cgroup"]), "the job's cgroup should be removed");
    }

    [Fact]
    public async Task StopAsync_RightAsTheJobStarts_StopsIt_EvenBeforeItJoinedItsCgroup()
    {
        await using var backend = NewBackend();
        RequireCgroup(backend);
        // A stop that comes the moment the job is running may find the child still on its way into its cgroup; it
        // must be stopped all the same (it used to run on, and the stop waited for it forever).
        for (var i = 0; i < 5; i++)
        {
            var log = new RecordingLog();
            var request = Request(["sh", "-c", "sleep 300"], log);
            var running = await backend.SubmitAsync(request, CancellationToken.None);
            Assert.Equal(JobState.Running, running.State);

            await backend.StopAsync(request.Job, CancellationToken.None).WaitAsync(Patience);
            var final = await CurrentAsync(backend, request.Job, log);

            Assert.Equal(JobState.Stopped, final.State);
            Assert.True(ProcessGone(int.Parse(running.Details["pid"], CultureInfo.InvariantCulture)), "the job's process still runs after the stop");
        }
    }

    [Fact]
    public async Task Timeout_KillsTheJob_AsTimedOut()
    {
        await using var backend = NewBackend();
        RequireCgroup(backend);
        var log = new RecordingLog();
        var request = Request(["sh", "-c", "sleep 300 & echo $!; wait"], log, timeout: TimeSpan.FromSeconds(2));

        var running = await backend.SubmitAsync(request, CancellationToken.None);
        var final = (await WatchToEndAsync(backend, request.Job, log))[^1];

        Assert.Equal(JobState.TimedOut, final.State);
        var grandchild = int.Parse(log.Text.Trim(), CultureInfo.InvariantCulture);
        Assert.True(ProcessGone(grandchild), "the timed-out job's background child should be killed too");
        Assert.False(Directory.Exists(running.Details["cgroup"]));
    }

    /// <summary>The job's cpu quota in µs per 100 ms: v2 keeps it beside memory, v1 in the cpu hierarchy the child reported.</summary>
    private static string? ReadCpuQuota(string memoryCgroup, string childCgroups)
    {
        var cpuMax = Path.Combine(memoryCgroup, "cpu.max");
        if (File.Exists(cpuMax))
        {
            return File.ReadAllText(cpuMax).Split(' ')[0];
        }
        var cpuLine = childCgroups.Split('\n').FirstOrDefault(l => l.Split(':') is [_, var controllers, _] && controllers.Split(',').Contains("cpu"));
        if (cpuLine is null)
        {
            return null;
        }
        var quota = Path.Combine("/sys/fs/cgroup/cpu" + cpuLine.Split(':')[2], "cpu.cfs_quota_us");
        return File.Exists(quota) ? File.ReadAllText(quota).Trim() : null;
    }
}
