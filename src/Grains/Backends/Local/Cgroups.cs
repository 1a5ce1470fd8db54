using System.Globalization;

namespace Batchyard.Backends.Local;

/// <summary>What the backend found at start: where job cgroups go, or why there are none.</summary>
internal sealed record CgroupProbe(CgroupHierarchy? Hierarchy, string Isolation);

/// <summary>The <c>batchyard</c> parent cgroup that job cgroups are made in.</summary>
internal abstract class CgroupHierarchy(TimeProvider time)
{
    protected TimeProvider Time => time;

    /// <summary>Shown by <see cref="LocalJobBackend.Isolation"/>, e.g. <c>cgroup v1 (/sys/fs/cgroup/memory/x/batchyard)</c>.</summary>
    public abstract string Description { get; }

    /// <summary>
    /// Makes the job's cgroup with its limits. A cgroup of the same name can only be left over from a silo
    /// that died mid-job (names are unique per attempt), so it is emptied and replaced.
    /// </summary>
    public abstract Task<JobCgroup> CreateAsync(string name, long memoryBytes, double? cpus, CancellationToken cancellationToken);

    /// <summary>Every job cgroup under the parent, by name (for sweeping the ones a dead silo left behind).</summary>
    public abstract IReadOnlyList<(string Name, JobCgroup Cgroup)> ListJobs();

    protected static IEnumerable<string> ChildNames(string? parent) =>
        parent is not null && Directory.Exists(parent)
            ? Directory.EnumerateDirectories(parent).Select(d => System.IO.Path.GetFileName(d)!)
            : [];

    /// <summary>Finds a usable cgroup: <paramref name="root"/> when given, else this process's own cgroup (v2 preferred).</summary>
    public static CgroupProbe Probe(string? root, TimeProvider time)
    {
        if (root is not null)
        {
            return ProbeDirectory(root, time);
        }

        var reasons = new List<string>();
        var ownCgroups = ReadOwnCgroups();
        var mounts = ReadCgroupMounts();

        var unified = FindDirectory(ownCgroups, mounts, controller: null);
        if (unified is not null)
        {
            var v2 = TrySetUpV2(unified, time, out var why);
            if (v2 is not null)
            {
                return new(v2, v2.Description);
            }
            reasons.Add($"v2: {why}");
        }

        var memory = FindDirectory(ownCgroups, mounts, "memory");
        if (memory is null)
        {
            reasons.Add("v1: no memory controller is mounted");
        }
        else
        {
            var v1 = TrySetUpV1(memory, FindDirectory(ownCgroups, mounts, "cpu"), FindDirectory(ownCgroups, mounts, "cpuacct"), time, out var why);
            if (v1 is not null)
            {
                return new(v1, v1.Description);
            }
            reasons.Add($"v1: {why}");
        }

        return new(null, "none: " + string.Join("; ", reasons));
    }

    private static CgroupProbe ProbeDirectory(string root, TimeProvider time)
    {
        string? why;
        if (!Directory.Exists(root))
        {
            why = $"cgroup root {root} does not exist";
        }
        else if (File.Exists(Path.Combine(root, "cgroup.controllers")))
        {
            var v2 = TrySetUpV2(root, time, out why);
            if (v2 is not null)
            {
                return new(v2, v2.Description);
            }
        }
        else if (File.Exists(Path.Combine(root, "memory.limit_in_bytes")))
        {
            var v1 = TrySetUpV1(root, cpuDirectory: null, cpuacctDirectory: null, time, out why);
            if (v1 is not null)
            {
                return new(v1, v1.Description);
            }
        }
        else
        {
            why = $"{root} is not a cgroup directory with a memory controller";
        }
        return new(null, $"none: {why}");
    }

    private static CgroupV1Hierarchy? TrySetUpV1(string memoryDirectory, string? cpuDirectory, string? cpuacctDirectory, TimeProvider time, out string? why)
    {
        var memoryParent = Path.Combine(memoryDirectory, "batchyard");
        try
        {
            Directory.CreateDirectory(memoryParent);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            why = $"cannot create {memoryParent}: {e.Message}";
            return null;
        }
        if (!File.Exists(Path.Combine(memoryParent, "memory.limit_in_bytes")))
        {
            why = $"{memoryParent} is not in a memory cgroup hierarchy";
            return null;
        }

        string? cpuParent = null;
        var cpuNote = "no cpu controller";
        if (cpuDirectory is not null)
        {
            var candidate = Path.Combine(cpuDirectory, "batchyard");
            try
            {
                Directory.CreateDirectory(candidate);
                if (File.Exists(Path.Combine(candidate, "cpu.cfs_quota_us")))
                {
                    cpuParent = candidate;
                }
                else
                {
                    cpuNote = "cpu controller has no cfs quota";
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                cpuNote = $"cpu controller not writable: {e.Message}";
            }
        }

        // cpuacct measures the job's cpu time for its cost; it is often mounted with cpu ("cpu,cpuacct"), then one directory serves both.
        string? cpuacctParent = null;
        if (cpuacctDirectory is not null)
        {
            var candidate = Path.Combine(cpuacctDirectory, "batchyard");
            try
            {
                Directory.CreateDirectory(candidate);
                cpuacctParent = File.Exists(Path.Combine(candidate, "cpuacct.usage")) ? candidate : null;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Jobs still run in their memory cgroup; their cpu time is not measured.
            }
        }

        why = null;
        return new CgroupV1Hierarchy(memoryParent, cpuParent, cpuNote, time) { CpuacctParent = cpuacctParent };
    }

    private static CgroupV2Hierarchy? TrySetUpV2(string directory, TimeProvider time, out string? why)
    {
        var available = ReadWords(Path.Combine(directory, "cgroup.controllers"));
        if (!available.Contains("memory"))
        {
            why = $"the memory controller is not available in {directory}";
            return null;
        }
        var cpu = available.Contains("cpu");

        // A v2 cgroup that holds processes cannot hand controllers to its children ("no internal
        // processes"); a delegated service is expected to move itself into a leaf, so do that once.
        if (!TryEnableControllers(directory, cpu, out var error))
        {
            try
            {
                var leaf = Path.Combine(directory, "silo");
                Directory.CreateDirectory(leaf);
                File.WriteAllText(Path.Combine(leaf, "cgroup.procs"), Environment.ProcessId.ToString(CultureInfo.InvariantCulture));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                why = $"cannot enable the memory controller below {directory} ({error}) nor move this process into a leaf cgroup ({e.Message})";
                return null;
            }
            if (!TryEnableControllers(directory, cpu, out error))
            {
                why = $"cannot enable the memory controller below {directory}: {error}";
                return null;
            }
        }

        var parent = Path.Combine(directory, "batchyard");
        try
        {
            Directory.CreateDirectory(parent);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            why = $"cannot create {parent}: {e.Message}";
            return null;
        }
        if (!TryEnableControllers(parent, cpu, out error))
        {
            why = $"cannot enable the memory controller below {parent}: {error}";
            return null;
        }

        why = null;
        return new CgroupV2Hierarchy(parent, cpu && ReadWords(Path.Combine(parent, "cgroup.subtree_control")).Contains("cpu"), time);
    }

    /// <summary>Memory is required; cpu is best effort (it can be refused, e.g. with realtime threads around).</summary>
    private static bool TryEnableControllers(string directory, bool cpu, out string? error)
    {
        var control = Path.Combine(directory, "cgroup.subtree_control");
        try
        {
            if (!ReadWords(control).Contains("memory"))
            {
                File.WriteAllText(control, "+memory");
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            error = e.Message;
            return false;
        }
        if (cpu)
        {
            try
            {
                if (!ReadWords(control).Contains("cpu"))
                {
                    File.WriteAllText(control, "+cpu");
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Jobs still get their memory limit; they only lose the cpu quota.
            }
        }
        error = null;
        return true;
    }

    private static HashSet<string> ReadWords(string file) =>
        File.Exists(file)
            ? File.ReadAllText(file).Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).ToHashSet(StringComparer.Ordinal)
            : [];

    /// <summary>Lines of <c>/proc/self/cgroup</c>: controllers (empty for v2) and path.</summary>
    private static List<(string[] Controllers, string Path)> ReadOwnCgroups()
    {
        var result = new List<(string[], string)>();
        if (!File.Exists("/proc/self/cgroup"))
        {
            return result;
        }
        foreach (var line in File.ReadAllLines("/proc/self/cgroup"))
        {
            var parts = line.Split(':', 3);
            if (parts.Length == 3)
            {
                result.Add((parts[1].Split(',', StringSplitOptions.RemoveEmptyEntries), parts[2]));
            }
        }
        return result;
    }

    /// <summary>cgroup mounts from <c>/proc/self/mountinfo</c>: type, super options, root inside the hierarchy, mount point.</summary>
    private static List<(string Type, string[] Options, string Root, string MountPoint)> ReadCgroupMounts()
    {
        var result = new List<(string, string[], string, string)>();
        if (!File.Exists("/proc/self/mountinfo"))
        {
            return result;
        }
        foreach (var line in File.ReadAllLines("/proc/self/mountinfo"))
        {
            var fields = line.Split(' ');
            var separator = Array.IndexOf(fields, "-");
            if (separator < 5 || fields.Length < separator + 4)
            {
                continue;
            }
            var type = fields[separator + 1];
            if (type is "cgroup" or "cgroup2")
            {
                result.Add((type, fields[separator + 3].Split(','), fields[3], fields[4]));
            }
        }
        return result;
    }

    /// <summary>This process's cgroup directory for a v1 controller, or the v2 one when <paramref name="controller"/> is null.</summary>
    private static string? FindDirectory(
        List<(string[] Controllers, string Path)> own,
        List<(string Type, string[] Options, string Root, string MountPoint)> mounts,
        string? controller)
    {
        var (_, path) = controller is null
            ? own.FirstOrDefault(c => c.Controllers.Length == 0)
            : own.FirstOrDefault(c => c.Controllers.Contains(controller, StringComparer.Ordinal));
        if (path is null)
        {
            return null;
        }
        var mount = controller is null
            ? mounts.FirstOrDefault(m => m.Type == "cgroup2")
            : mounts.FirstOrDefault(m => m.Type == "cgroup" && m.Options.Contains(controller, StringComparer.Ordinal));
        if (mount.MountPoint is null)
        {
            return null;
        }
        // Inside a cgroup namespace or a bind mount the mount's root is part of the path already.
        if (mount.Root != "/" && path.StartsWith(mount.Root, StringComparison.Ordinal))
        {
            path = path[mount.Root.Length..];
        }
        var directory = mount.MountPoint.TrimEnd('/') + "/" + path.TrimStart('/');
        return Directory.Exists(directory) ? directory.TrimEnd('/') : null;
    }
}

/// <summary>cgroup v1: a memory cgroup per job, plus a cpu cgroup when that controller is writable.</summary>
internal sealed class CgroupV1Hierarchy(string memoryParent, string? cpuParent, string cpuNote, TimeProvider time) : CgroupHierarchy(time)
{
    private const long CfsPeriodUs = 100_000;

    /// <summary>The parent of the jobs' cpuacct cgroups (the same as the cpu one when co-mounted), or null when cpu time is not measured.</summary>
    public string? CpuacctParent { get; init; }

    public override string Description =>
        (cpuParent is null ? $"cgroup v1 ({memoryParent}; {cpuNote}" : $"cgroup v1 ({memoryParent}; cpu {cpuParent}")
        + (CpuacctParent is null || CpuacctParent == cpuParent ? ")" : $"; cpuacct {CpuacctParent})");

    public override async Task<JobCgroup> CreateAsync(string name, long memoryBytes, double? cpus, CancellationToken cancellationToken)
    {
        var memory = Path.Combine(memoryParent, name);
        var cpu = cpuParent is not null && cpus is not null ? Path.Combine(cpuParent, name) : null;
        var cpuacct = CpuacctParent is not null ? Path.Combine(CpuacctParent, name) : null;
        string[] directories = [.. new[] { memory, cpu, cpuacct }.OfType<string>().Distinct(StringComparer.Ordinal)];
        var cgroup = new JobCgroupV1(directories, Time);
        await cgroup.RemoveAsync(cancellationToken);

        foreach (var directory in directories)
        {
            Directory.CreateDirectory(directory);
        }
        Cgroup.Write(memory, "memory.limit_in_bytes", memoryBytes);
        // Without memsw the job would page to swap instead of being stopped at its limit.
        if (File.Exists(Path.Combine(memory, "memory.memsw.limit_in_bytes")))
        {
            Cgroup.Write(memory, "memory.memsw.limit_in_bytes", memoryBytes);
        }
        if (cpu is not null)
        {
            Cgroup.Write(cpu, "cpu.cfs_period_us", CfsPeriodUs);
            Cgroup.Write(cpu, "cpu.cfs_quota_us", Cgroup.Quota(cpus!.Value, CfsPeriodUs));
        }
        return cgroup;
    }

    public override IReadOnlyList<(string Name, JobCgroup Cgroup)> ListJobs() =>
        [.. ChildNames(memoryParent).Union(ChildNames(cpuParent), StringComparer.Ordinal).Union(ChildNames(CpuacctParent), StringComparer.Ordinal).Select(name =>
            (name, (JobCgroup)new JobCgroupV1(
                [.. new[] { memoryParent, cpuParent, CpuacctParent }.OfType<string>().Distinct(StringComparer.Ordinal).Select(p => Path.Combine(p, name)).Where(Directory.Exists)], Time)))];
}

/// <summary>cgroup v2: one cgroup per job carries memory and cpu.</summary>
internal sealed class CgroupV2Hierarchy(string parent, bool cpu, TimeProvider time) : CgroupHierarchy(time)
{
    private const long CpuPeriodUs = 100_000;

    public override string Description => cpu ? $"cgroup v2 ({parent})" : $"cgroup v2 ({parent}; no cpu controller)";

    public override async Task<JobCgroup> CreateAsync(string name, long memoryBytes, double? cpus, CancellationToken cancellationToken)
    {
        var directory = Path.Combine(parent, name);
        var cgroup = new JobCgroupV2(directory, Time);
        await cgroup.RemoveAsync(cancellationToken);

        Directory.CreateDirectory(directory);
        Cgroup.Write(directory, "memory.max", memoryBytes);
        if (File.Exists(Path.Combine(directory, "memory.swap.max")))
        {
            Cgroup.Write(directory, "memory.swap.max", 0);
        }
        if (cpu && cpus is not null && File.Exists(Path.Combine(directory, "cpu.max")))
        {
            File.WriteAllText(
                Path.Combine(directory, "cpu.max"),
                string.Create(CultureInfo.InvariantCulture, $"{Cgroup.Quota(cpus.Value, CpuPeriodUs)} {CpuPeriodUs}"));
        }
        return cgroup;
    }

    public override IReadOnlyList<(string Name, JobCgroup Cgroup)> ListJobs() =>
        [.. ChildNames(parent).Select(name => (name, (JobCgroup)new JobCgroupV2(Path.Combine(parent, name), Time)))];
}

/// <summary>One job's cgroup (one directory per v1 controller, one in v2).</summary>
internal abstract class JobCgroup(IReadOnlyList<string> directories, TimeProvider time)
{
    /// <summary>Bounds the kill loop; a fork bomb outrunning SIGKILL for this long is not a case to wait on.</summary>
    private const int MaxKillRounds = 1000;

    /// <summary>The memory cgroup's directory.</summary>
    public string Path => directories[0];

    /// <summary>Every directory of the job's cgroup (one per v1 controller).</summary>
    protected IReadOnlyList<string> Directories => directories;

    /// <summary>Files the job's first process writes its pid to before it execs the user's program.</summary>
    public IEnumerable<string> ProcsFiles => directories.Select(d => System.IO.Path.Combine(d, "cgroup.procs"));

    /// <summary>How many processes the kernel's OOM killer killed in this cgroup.</summary>
    public abstract long ReadOomKills();

    /// <summary>
    /// What the job used, read before the cgroup is removed: cpu seconds and the memory high-water mark in bytes,
    /// each null where the kernel does not keep it here.
    /// </summary>
    public abstract (double? CpuSeconds, long? MemoryPeakBytes) ReadUsage();

    /// <summary>Kills every process in the cgroup, including ones forked while killing, until it is empty.</summary>
    public virtual async Task KillAllAsync(CancellationToken cancellationToken)
    {
        for (var round = 0; ; round++)
        {
            var pids = ReadPids();
            if (pids.Count == 0)
            {
                return;
            }
            if (round >= MaxKillRounds)
            {
                throw new IOException($"cgroup {Path} still has processes after {MaxKillRounds} rounds of SIGKILL");
            }
            foreach (var pid in pids)
            {
                Cgroup.Kill(pid);
            }
            await Task.Delay(TimeSpan.FromMilliseconds(5), time, cancellationToken);
        }
    }

    /// <summary>Kills what is left and removes the directories; missing directories are fine.</summary>
    public async Task RemoveAsync(CancellationToken cancellationToken)
    {
        if (!directories.Any(Directory.Exists))
        {
            return;
        }
        await KillAllAsync(cancellationToken);
        foreach (var directory in directories.Where(Directory.Exists))
        {
            // rmdir answers EBUSY for a moment after the last process died, until the kernel lets go of it.
            for (var attempt = 0; ; attempt++)
            {
                try
                {
                    Directory.Delete(directory);
                    break;
                }
                catch (IOException) when (attempt < 200 && Directory.Exists(directory))
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(10), time, cancellationToken);
                }
                catch (DirectoryNotFoundException)
                {
                    break;
                }
            }
        }
    }

    protected HashSet<int> ReadPids()
    {
        var pids = new HashSet<int>();
        foreach (var file in ProcsFiles)
        {
            string text;
            try
            {
                text = File.ReadAllText(file);
            }
            catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
            {
                continue;
            }
            foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                pids.Add(int.Parse(line, CultureInfo.InvariantCulture));
            }
        }
        return pids;
    }
}

internal sealed class JobCgroupV1(IReadOnlyList<string> directories, TimeProvider time) : JobCgroup(directories, time)
{
    public override long ReadOomKills() => Cgroup.ReadCounter(System.IO.Path.Combine(Path, "memory.oom_control"), "oom_kill");

    public override (double? CpuSeconds, long? MemoryPeakBytes) ReadUsage()
    {
        // cpuacct.usage: nanoseconds of cpu time; memory.max_usage_in_bytes: the high-water mark.
        var usage = Directories.Select(d => System.IO.Path.Combine(d, "cpuacct.usage")).FirstOrDefault(File.Exists);
        var cpuNs = usage is null ? null : Cgroup.ReadNumber(usage);
        return (cpuNs / 1e9, Cgroup.ReadNumber(System.IO.Path.Combine(Path, "memory.max_usage_in_bytes")));
    }
}

internal sealed class JobCgroupV2(string directory, TimeProvider time) : JobCgroup([directory], time)
{
    public override long ReadOomKills() => Cgroup.ReadCounter(System.IO.Path.Combine(Path, "memory.events"), "oom_kill");

    public override (double? CpuSeconds, long? MemoryPeakBytes) ReadUsage()
    {
        // cpu.stat's usage_usec is kept with or without the cpu controller; memory.peak exists from Linux 5.19.
        var stat = System.IO.Path.Combine(Path, "cpu.stat");
        double? cpu = File.Exists(stat) ? Cgroup.ReadCounter(stat, "usage_usec") / 1e6 : null;
        return (cpu, Cgroup.ReadNumber(System.IO.Path.Combine(Path, "memory.peak")));
    }

    public override Task KillAllAsync(CancellationToken cancellationToken)
    {
        // cgroup.kill (Linux 5.14+) kills the whole cgroup at once, forks included; the loop then only waits.
        var kill = System.IO.Path.Combine(Path, "cgroup.kill");
        if (File.Exists(kill))
        {
            try
            {
                File.WriteAllText(kill, "1");
            }
            catch (IOException)
            {
                // Fall back to killing pid by pid below.
            }
        }
        return base.KillAllAsync(cancellationToken);
    }
}

/// <summary>Small file and signal helpers shared by both cgroup versions.</summary>
internal static class Cgroup
{
    public static void Write(string directory, string file, long value) =>
        File.WriteAllText(Path.Combine(directory, file), value.ToString(CultureInfo.InvariantCulture));

    /// <summary>The quota in µs per period; the kernel refuses quotas under 1 ms.</summary>
    public static long Quota(double cpus, long period) => Math.Max(1000, (long)Math.Round(cpus * period));

    /// <summary>Reads <c>name N</c> from a flat keyed file such as <c>memory.events</c>; 0 when absent.</summary>
    public static long ReadCounter(string file, string name)
    {
        if (!File.Exists(file))
        {
            return 0;
        }
        foreach (var line in File.ReadAllLines(file))
        {
            var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length == 2 && parts[0] == name && long.TryParse(parts[1], CultureInfo.InvariantCulture, out var value))
            {
                return value;
            }
        }
        return 0;
    }

    /// <summary>Reads a file holding one number (e.g. <c>cpuacct.usage</c>); null when it is absent or holds something else.</summary>
    public static long? ReadNumber(string file)
    {
        try
        {
            return long.TryParse(File.ReadAllText(file).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var value) ? value : null;
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>SIGKILL by pid (what <see cref="System.Diagnostics.Process.Kill()"/> sends on Linux); a process already gone is fine.</summary>
    public static void Kill(int pid)
    {
        try
        {
            using var process = System.Diagnostics.Process.GetProcessById(pid);
            process.Kill();
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            // It exited between reading cgroup.procs and the kill.
        }
    }
}
