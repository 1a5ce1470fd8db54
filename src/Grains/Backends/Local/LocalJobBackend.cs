using System.Collections.Immutable;
using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using Batchyard.Costs;
using Batchyard.Dags;
using Batchyard.Logs;
using Batchyard.Telemetry;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Batchyard.Backends.Local;

/// <summary>
/// Runs a task as a child process of the silo (no shell), each job in its own cgroup with a hard memory
/// limit, admitted only while the host's memory budget holds and the GPUs it asks for are free. See docs/local-backend.md.
/// </summary>
public sealed partial class LocalJobBackend : IJobBackend, IAsyncDisposable
{
    /// <summary>The failure reason of a job the kernel killed for exceeding its memory limit.</summary>
    public const string OutOfMemoryReason = "OutOfMemory";

    /// <summary>Why a job this process does not know is Lost: jobs live and die with the silo that started them.</summary>
    public const string LostReason = "the silo running this job stopped";

    /// <summary>Finished jobs kept so that a late submit or watch of the same name still sees the outcome.</summary>
    private const int FinishedJobsKept = 1000;

    /// <summary>The first process of a job: joins the job's cgroup(s), then becomes the user's program.
    /// The user's argv arrives as arguments after <c>--</c> and is never parsed by the shell.</summary>
    private const string EnterCgroupScript =
        """while [ "$1" != -- ]; do echo $$ > "$1" || { echo "batchyard: cannot join cgroup $1" >&2; exit 125; }; shift; done; shift; exec "$@" """;

    private static readonly TimeSpan OutputDrainLimit = TimeSpan.FromSeconds(10);

    private readonly LocalBackendOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<LocalJobBackend> _logger;
    private readonly CgroupHierarchy? _cgroups;
    private readonly string? _setpriv;
    private readonly ProcessSpawner _spawner = new();
    private readonly CancellationTokenSource _shutdown = new();
    private readonly Lock _gate = new();
    private readonly Dictionary<string, LocalJob> _jobs = new(StringComparer.Ordinal);
    private readonly Queue<string> _finished = new();
    private readonly LocalAdmission _admission;
    private int _disposed;

    public LocalJobBackend(IOptions<LocalBackendOptions> options, TimeProvider time, ILogger<LocalJobBackend> logger, BatchyardMetrics? metrics = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options.Value;
        _time = time;
        _logger = logger;
        MemoryCapacityMb = _options.MemoryCapacityMb ?? DefaultCapacityMb();
        _admission = new LocalAdmission(MemoryCapacityMb, HostGpus.Find(_options.Gpus, _options.NvidiaSmiPath));
        metrics?.ObserveLocalMemory(() => ((long)MemoryInUseMb * 1024 * 1024, (long)MemoryCapacityMb * 1024 * 1024));

        var probe = CgroupHierarchy.Probe(_options.CgroupRoot, time);
        _cgroups = probe.Hierarchy;
        Isolation = probe.Isolation;
        _setpriv = FindSetpriv();

        if (_cgroups is null)
        {
            LogNoIsolation(Isolation, MemoryCapacityMb);
        }
        else
        {
            LogIsolation(Isolation, MemoryCapacityMb);
        }
        if (_setpriv is null)
        {
            LogNoSetpriv();
        }
        LogGpus(Gpus.Ids.Length, string.Join(",", Gpus.Ids), Gpus.Source);
        if (_cgroups is not null)
        {
            _ = Task.Run(() => SweepOrphansLoopAsync(_shutdown.Token));
        }
    }

    /// <summary>
    /// A silo killed outright takes its jobs' first processes with it (parent-death signal), but what they
    /// forked lives on in the job's cgroup. Each job cgroup is named after the silo process that made it, so
    /// any silo on this host removes, at start and then every <see cref="SweepInterval"/>, the cgroups of
    /// silo processes that no longer exist, killing what is left in them.
    /// </summary>
    private async Task SweepOrphansLoopAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                var swept = await SweepOrphansAsync(cancellationToken);
                if (swept > 0)
                {
                    LogSweptOrphans(swept);
                }
                await Task.Delay(SweepInterval, _time, cancellationToken);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                LogSweepFailed(ex.Message);
                await Task.Delay(SweepInterval, _time, cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }
    }

    /// <summary>Removes the job cgroups whose owning silo process is gone; returns how many.</summary>
    internal async Task<int> SweepOrphansAsync(CancellationToken cancellationToken)
    {
        var swept = 0;
        foreach (var (name, cgroup) in _cgroups?.ListJobs() ?? [])
        {
            if (OwnerOf(name) is { } owner && !Directory.Exists($"/proc/{owner}"))
            {
                await cgroup.RemoveAsync(cancellationToken);
                swept++;
            }
        }
        return swept;
    }

    private static readonly TimeSpan SweepInterval = TimeSpan.FromSeconds(30);
    private static readonly string OwnerPrefix = string.Create(CultureInfo.InvariantCulture, $"p{Environment.ProcessId}.");

    private static int? OwnerOf(string cgroupName)
    {
        var dot = cgroupName.IndexOf('.', StringComparison.Ordinal);
        return cgroupName.StartsWith('p') && dot > 1 && int.TryParse(cgroupName.AsSpan(1, dot - 1), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) ? pid : null;
    }

    /// <summary>The name DAG files use for this backend.</summary>
    public const string BackendName = "local";

    public string Name => BackendName;

    /// <summary>
    /// How jobs are isolated, e.g. <c>cgroup v1 (/sys/fs/cgroup/memory/…/batchyard; cpu …)</c>, or
    /// <c>none: why</c> when no cgroup could be made (jobs then run without limits). Shown by /readyz.
    /// </summary>
    public string Isolation { get; }

    /// <summary>True when jobs get their own memory-limited cgroup.</summary>
    public bool IsIsolated => _cgroups is not null;

    /// <summary>Memory all running jobs may hold together.</summary>
    public int MemoryCapacityMb { get; }

    /// <summary>Memory held by the running (admitted) jobs.</summary>
    public int MemoryInUseMb
    {
        get
        {
            lock (_gate)
            {
                return _admission.MemoryInUseMb;
            }
        }
    }

    /// <summary>The GPUs this backend hands out, and where that list came from.</summary>
    public HostGpus Gpus => _admission.Gpus;

    /// <summary>Each GPU with the job holding it, or null when free.</summary>
    public ImmutableArray<(string Id, JobRef? Holder)> GpuHolders
    {
        get
        {
            lock (_gate)
            {
                return [.. _admission.GpuHolders.Select(h => (h.Id, h.Holder?.Request.Job))];
            }
        }
    }

    public IEnumerable<BackendProblem> Validate(TaskDefinition task)
    {
        ArgumentNullException.ThrowIfNull(task);
        return Problems(task, task.Resources.MemoryMb).Concat(SageMakerOnlyProblems(task));
    }

    /// <summary>Fields that only a SageMaker training job has: refused rather than silently ignored on this host.</summary>
    private static IEnumerable<BackendProblem> SageMakerOnlyProblems(TaskDefinition task)
    {
        if (task.Resources.Spot == true)
        {
            yield return new("resources.spot", "the local backend has no spot instances (spot is for backend: sagemaker-training)");
        }
        if (task.Resources.KeepAlive is not null)
        {
            yield return new("resources.keep_alive", "the local backend has no warm pools (keep_alive is for backend: sagemaker-training)");
        }
    }

    public async Task<JobStatus> SubmitAsync(JobRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var name = request.Job.JobName;
        LocalJob job;
        lock (_gate)
        {
            if (_jobs.TryGetValue(name, out var existing))
            {
                job = existing;
            }
            else
            {
                var memoryMb = request.Task.Resources.MemoryMb ?? _options.DefaultMemoryMb;
                var problems = Problems(request.Task, memoryMb).ToList();
                var now = _time.GetUtcNow();
                job = new LocalJob(request, memoryMb, problems.Count == 0
                    ? new JobStatus { State = JobState.Queued, JobId = name, Details = Details(memoryMb, request.Task.Resources.Gpus ?? 0) }
                    : new JobStatus
                    {
                        State = JobState.Failed,
                        JobId = name,
                        Reason = string.Join("; ", problems.Select(p => $"{p.Path}: {p.Message}")),
                        EndedAt = now,
                    });
                _jobs.Add(name, job);
                if (problems.Count == 0)
                {
                    _admission.Enqueue(job);
                }
                else
                {
                    Forget(job);
                }
                existing = null;
            }
            if (existing is not null)
            {
                LogAdopted(request.Job.DagId, request.Job.RunId, request.Job.TaskId, request.Job.Attempt, name);
                return existing.Status;
            }
        }

        if (job.Status.IsFinal)
        {
            LogRefused(request.Job.DagId, request.Job.RunId, request.Job.TaskId, request.Job.Attempt, job.Status.Reason);
            return job.Status;
        }
        AdmitWaiting();
        if (job.Admitted)
        {
            // Report the started process (or why it could not start) rather than a Queued that is already stale.
            await job.LeftQueue.WaitAsync(cancellationToken);
        }
        else
        {
            LogQueued(request.Job.DagId, request.Job.RunId, request.Job.TaskId, request.Job.Attempt, job.Status.Reason);
        }
        return job.Status;
    }

    public async IAsyncEnumerable<JobStatus> WatchAsync(JobRef job, IAttemptLog log, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(job);
        LocalJob? local;
        lock (_gate)
        {
            local = _jobs.GetValueOrDefault(job.JobName);
        }
        if (local is null)
        {
            LogLost(job.DagId, job.RunId, job.TaskId, job.Attempt, job.JobName);
            yield return new JobStatus { State = JobState.Lost, JobId = job.JobName, Reason = LostReason, EndedAt = _time.GetUtcNow() };
            yield break;
        }
        // Output goes to the log given at submit: a watch in this process is the same attempt, hence the same log.
        await foreach (var status in local.FollowAsync(cancellationToken))
        {
            yield return status;
        }
    }

    public async Task StopAsync(JobRef job, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(job);
        LocalJob? local;
        bool wasWaiting;
        lock (_gate)
        {
            local = _jobs.GetValueOrDefault(job.JobName);
            wasWaiting = local is not null && _admission.Remove(local);
        }
        if (local is null)
        {
            return;
        }
        LogStopping(job.DagId, job.RunId, job.TaskId, job.Attempt);
        if (wasWaiting)
        {
            local.Publish(new JobStatus { State = JobState.Stopped, JobId = job.JobName, Reason = "stopped on request", EndedAt = _time.GetUtcNow() });
            lock (_gate)
            {
                Forget(local);
            }
            return;
        }
        await EndEarlyAsync(local, JobState.Stopped, "stopped on request");
        await local.Ended.WaitAsync(cancellationToken);
    }

    public Task<BackendHealth> DescribeHealthAsync(CancellationToken cancellationToken) => Task.FromResult(LocalBackendHealth.Of(this));

    /// <summary>Kills every running job (their cgroups go too) and stops the spawner thread.</summary>
    public async ValueTask DisposeAsync()
    {
        // DI disposes the instance once per registration (as itself and as IJobBackend).
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }
        List<LocalJob> jobs;
        lock (_gate)
        {
            jobs = [.. _jobs.Values.Where(j => !j.Status.IsFinal)];
            foreach (var job in _admission.RemoveAll())
            {
                job.Publish(new JobStatus { State = JobState.Stopped, JobId = job.Request.Job.JobName, Reason = "the silo is shutting down", EndedAt = _time.GetUtcNow() });
            }
        }
        foreach (var job in jobs)
        {
            await EndEarlyAsync(job, JobState.Stopped, "the silo is shutting down");
        }
        await Task.WhenAll(jobs.Select(j => j.Ended)).WaitAsync(TimeSpan.FromSeconds(30), _time).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        await _shutdown.CancelAsync();
        _spawner.Dispose();
        _shutdown.Dispose();
    }

    private IEnumerable<BackendProblem> Problems(TaskDefinition task, int? memoryMb)
    {
        if (task.Command.IsDefaultOrEmpty || string.IsNullOrWhiteSpace(task.Command[0]))
        {
            yield return new("command", "a local task needs a command");
        }
        if (memoryMb is <= 0)
        {
            yield return new("resources.memory_mb", "must be greater than 0");
        }
        else if (memoryMb > MemoryCapacityMb)
        {
            yield return new("resources.memory_mb",
                $"{memoryMb} MB is more than the local backend's whole memory capacity of {MemoryCapacityMb} MB (Batchyard:Local:MemoryCapacityMb)");
        }
        if (task.Resources.Cpus is { } cpus && !(cpus > 0))
        {
            yield return new("resources.cpus", "must be greater than 0");
        }
        if (task.Resources.Gpus is { } gpus)
        {
            var host = Gpus;
            if (gpus < 1)
            {
                yield return new("resources.gpus", "must be at least 1");
            }
            else if (host.Ids.IsEmpty)
            {
                yield return new("resources.gpus", $"this host has no GPUs to hand out ({host.Source}); set {HostGpus.ConfigKey}, e.g. 0,1");
            }
            else if (gpus > host.Ids.Length)
            {
                yield return new("resources.gpus", $"{gpus} GPUs is more than this host has: {host.Ids.Length} ({string.Join(",", host.Ids)}, from {host.Source})");
            }
        }
    }

    /// <summary>Starts the waiting jobs that fit, in order (see <see cref="LocalAdmission"/>), and tells the others' new reasons.</summary>
    private void AdmitWaiting()
    {
        List<LocalJob> admitted;
        List<(LocalJob Job, JobStatus Status)> waiting;
        lock (_gate)
        {
            (admitted, var newReasons) = _admission.Admit();
            waiting = [.. newReasons.Select(j => (j, new JobStatus
            {
                State = JobState.Queued,
                JobId = j.Request.Job.JobName,
                Reason = _admission.Reason(j),
                Details = Details(j.MemoryMb, j.Gpus),
            }))];
        }
        foreach (var (job, status) in waiting)
        {
            job.Publish(status);
        }
        foreach (var job in admitted)
        {
            _ = Task.Run(() => RunAsync(job));
        }
    }

    /// <summary>Runs an admitted job to its end; never throws (every failure becomes the job's status).</summary>
    private async Task RunAsync(LocalJob job)
    {
        var id = job.Request.Job;
        JobStatus final;
        try
        {
            final = await RunProcessAsync(job);
        }
        catch (Exception e)
        {
            LogRunError(e, id.DagId, id.RunId, id.TaskId, id.Attempt);
            final = Ended(job, JobState.Failed, $"local backend error: {e.Message}", startedAt: null);
        }

        // Published before the memory and GPUs are released, so a job admitted next is always seen after this one ended.
        job.Publish(final);
        LogEnded(id.DagId, id.RunId, id.TaskId, id.Attempt, final.State, final.ExitCode, final.Reason);
        lock (_gate)
        {
            _admission.Release(job);
            Forget(job);
        }
        AdmitWaiting();
    }

    private async Task<JobStatus> RunProcessAsync(LocalJob job)
    {
        var task = job.Request.Task;
        if (!TryResolveWorkingDirectory(task, out var workingDirectory, out var why)
            || !TryResolveExecutable(task, workingDirectory, out var executable, out why))
        {
            return Ended(job, JobState.Failed, why, startedAt: null);
        }
        if (job.StopRequest is { } early)
        {
            return Ended(job, early.State, early.Reason, startedAt: null);
        }

        JobCgroup? cgroup = null;
        if (_cgroups is not null)
        {
            try
            {
                cgroup = await _cgroups.CreateAsync(CgroupName(job.Request.Job.JobName), job.MemoryMb * 1024L * 1024L, task.Resources.Cpus, _shutdown.Token);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return Ended(job, JobState.Failed, $"could not create the job's cgroup: {e.Message}", startedAt: null);
            }
        }

        try
        {
            return await RunInCgroupAsync(job, executable, workingDirectory, cgroup);
        }
        finally
        {
            if (cgroup is not null)
            {
                try
                {
                    await cgroup.RemoveAsync(CancellationToken.None);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    var id = job.Request.Job;
                    LogCgroupNotRemoved(e, id.DagId, id.RunId, id.TaskId, id.Attempt, cgroup.Path);
                }
            }
        }
    }

    private async Task<JobStatus> RunInCgroupAsync(LocalJob job, string executable, string workingDirectory, JobCgroup? cgroup)
    {
        var id = job.Request.Job;
        var task = job.Request.Task;
        string outputFile;
        try
        {
            outputFile = PrepareOutputFile(id);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Ended(job, JobState.Failed, $"could not prepare the job's output file: {e.Message}", startedAt: null);
        }
        Process process;
        try
        {
            process = await _spawner.StartAsync(StartInfo(task, executable, workingDirectory, cgroup, outputFile, job.HeldGpus));
        }
        catch (Exception e) when (e is Win32Exception or InvalidOperationException)
        {
            return Ended(job, JobState.Failed, $"could not start {executable}: {e.Message}", startedAt: null);
        }

        using (process)
        {
            var startedAt = _time.GetUtcNow();
            // The child gets an empty stdin rather than the silo's.
            process.StandardInput.Close();
            var output = Task.WhenAll(PumpAsync(process.StandardOutput, job), PumpAsync(process.StandardError, job));

            var details = Details(job.MemoryMb, job.Gpus).SetItem("pid", process.Id.ToString(CultureInfo.InvariantCulture));
            if (!job.HeldGpus.IsEmpty)
            {
                details = details.SetItem("gpus", string.Join(",", job.HeldGpus));
            }
            if (cgroup is not null)
            {
                details = details.SetItem("cgroup", cgroup.Path);
            }
            job.Publish(new JobStatus { State = JobState.Running, JobId = id.JobName, StartedAt = startedAt, Details = details });
            LogStarted(id.DagId, id.RunId, id.TaskId, id.Attempt, process.Id, cgroup?.Path ?? "none");
            if (job.Attach(process, cgroup))
            {
                await KillAsync(job);
            }

            using var timeout = task.Timeout is { } limit
                ? _time.CreateTimer(_ => _ = EndEarlyAsync(job, JobState.TimedOut, $"timed out after {limit}"), null, limit, Timeout.InfiniteTimeSpan)
                : null;

            await process.WaitForExitAsync(CancellationToken.None);
            var exitCode = process.ExitCode;
            job.Detach();

            // Whatever the job left behind (a daemonized grandchild) ends with it, which also closes its pipes.
            long oomKills = 0;
            if (cgroup is not null)
            {
                await cgroup.KillAllAsync(CancellationToken.None);
                oomKills = cgroup.ReadOomKills();
                details = details.SetItems(UsageFacts(cgroup));
            }
            await output.WaitAsync(OutputDrainLimit, _time).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);

            var stop = job.StopRequest;
            var (jobOutput, outputError) = stop is null && exitCode == 0 ? ReadOutputFile(id) : (null, null);
            var status = stop is { } s ? Ended(job, s.State, s.Reason, startedAt)
                : exitCode == 0 && outputError is not null ? Ended(job, JobState.Failed, outputError, startedAt)
                : exitCode == 0 ? Ended(job, JobState.Succeeded, null, startedAt) with { Output = jobOutput }
                : oomKills > 0 ? Ended(job, JobState.Failed, OutOfMemoryReason, startedAt)
                : Ended(job, JobState.Failed, ExitReason(exitCode), startedAt);
            DeleteOutputFile(id);
            return status with
            {
                ExitCode = exitCode,
                Details = oomKills > 0 ? details.SetItem("oomKills", oomKills.ToString(CultureInfo.InvariantCulture)) : details,
            };
        }
    }

    /// <summary>Ends a job early (stop, timeout): kills its whole tree if it runs, else it never starts.</summary>
    private async Task EndEarlyAsync(LocalJob job, JobState state, string reason)
    {
        if (job.RequestStop(state, reason))
        {
            await KillAsync(job);
        }
    }

    private async Task KillAsync(LocalJob job)
    {
        var (process, cgroup) = job.Running;
        try
        {
            // The job's own process first: just after its start it may not have joined its cgroup yet, and a cgroup
            // emptied before it joins would let it run on. Then whatever the cgroup holds (its forks).
            try
            {
                process?.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
                // It has exited already; its forks may still be in the cgroup.
            }
            if (cgroup is not null)
            {
                await cgroup.KillAllAsync(CancellationToken.None);
            }
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or Win32Exception)
        {
            var id = job.Request.Job;
            LogKillFailed(e, id.DagId, id.RunId, id.TaskId, id.Attempt);
        }
    }

    /// <summary>Copies one stream to the log line by line; keeps draining if the log fails, so the child never blocks on a full pipe.</summary>
    private async Task PumpAsync(StreamReader reader, LocalJob job)
    {
        var logging = true;
        while (await reader.ReadLineAsync() is { } line)
        {
            if (!logging)
            {
                continue;
            }
            try
            {
                await job.AppendLineAsync(line);
            }
            catch (Exception e)
            {
                var id = job.Request.Job;
                LogOutputLost(e, id.DagId, id.RunId, id.TaskId, id.Attempt);
                logging = false;
            }
        }
    }

    /// <summary>The attempt's output file (named by <c>$BATCHYARD_OUTPUT</c>): its folder exists, and an older file of the same attempt is gone.</summary>
    private string PrepareOutputFile(JobRef job)
    {
        var path = OutputFileOf(job);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.Delete(path);
        return path;
    }

    private string OutputFileOf(JobRef job) =>
        Path.Combine(_options.OutputDirectory ?? Path.Combine(Path.GetTempPath(), "batchyard-outputs"), job.JobName + ".json");

    /// <summary>What the job wrote to its output file: nothing is no output; anything else must be one JSON object of at most 64 KiB.</summary>
    private (string? Output, string? Error) ReadOutputFile(JobRef job)
    {
        var path = OutputFileOf(job);
        try
        {
            var info = new FileInfo(path);
            if (!info.Exists)
            {
                return (null, null);
            }
            var limit = TaskOutputs.MaxBytes + 1;
            using var stream = info.OpenRead();
            var buffer = new byte[(int)Math.Min(limit, Math.Max(info.Length, 0) + 1)];
            var read = stream.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
            var source = $"${TaskOutputs.EnvironmentVariable}";
            return read > TaskOutputs.MaxBytes || info.Length > TaskOutputs.MaxBytes
                ? (null, $"output too large: {source} holds {info.Length} bytes, the limit is {TaskOutputs.MaxBytes} (64 KiB)")
                : TaskOutputs.Read(buffer.AsSpan(0, read), source);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return (null, $"could not read the job's output file: {e.Message}");
        }
    }

    private void DeleteOutputFile(JobRef job)
    {
        try
        {
            File.Delete(OutputFileOf(job));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Left behind; the next attempt of the same name deletes it before it starts.
        }
    }

    private ProcessStartInfo StartInfo(TaskDefinition task, string executable, string workingDirectory, JobCgroup? cgroup, string outputFile, ImmutableArray<string> gpus)
    {
        var argv = new List<string>();
        if (_setpriv is not null)
        {
            argv.AddRange([_setpriv, "--pdeathsig", "KILL", "--"]);
        }
        if (cgroup is not null)
        {
            argv.AddRange(["/bin/sh", "-c", EnterCgroupScript, "sh"]);
            argv.AddRange(cgroup.ProcsFiles);
            argv.Add("--");
        }
        argv.Add(executable);
        argv.AddRange(task.Command.Skip(1));
        argv.AddRange(task.Args);

        var info = new ProcessStartInfo(argv[0])
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
            WorkingDirectory = workingDirectory,
        };
        foreach (var argument in argv.Skip(1))
        {
            info.ArgumentList.Add(argument);
        }
        foreach (var (key, value) in task.Env)
        {
            info.Environment[key] = value;
        }
        info.Environment[TaskOutputs.EnvironmentVariable] = outputFile;
        if (!Gpus.Ids.IsEmpty)
        {
            GpuEnvironment.Apply(info.Environment, gpus);
        }
        return info;
    }

    private bool TryResolveWorkingDirectory(TaskDefinition task, out string directory, out string why)
    {
        var baseDirectory = Path.GetFullPath(_options.BaseDirectory);
        directory = string.IsNullOrEmpty(task.WorkingDir) ? baseDirectory : Path.GetFullPath(task.WorkingDir, baseDirectory);
        why = Directory.Exists(directory) ? "" : $"working directory not found: {directory}";
        return why.Length == 0;
    }

    /// <summary>
    /// Finds the program the way exec would (a name with a slash against the working directory, else the
    /// job's PATH), so a missing one fails with a clear reason instead of a shell's exit code 127.
    /// </summary>
    private static bool TryResolveExecutable(TaskDefinition task, string workingDirectory, out string executable, out string why)
    {
        var command = task.Command[0];
        IEnumerable<string> candidates = command.Contains('/', StringComparison.Ordinal)
            ? [Path.GetFullPath(command, workingDirectory)]
            : (task.Env.GetValueOrDefault("PATH") ?? Environment.GetEnvironmentVariable("PATH") ?? "/usr/local/bin:/usr/bin:/bin")
                .Split(':', StringSplitOptions.RemoveEmptyEntries)
                .Select(d => Path.Combine(Path.GetFullPath(d, workingDirectory), command));
        foreach (var candidate in candidates)
        {
            if (File.Exists(candidate) && IsExecutable(candidate))
            {
                executable = candidate;
                why = "";
                return true;
            }
        }
        executable = command;
        why = command.Contains('/', StringComparison.Ordinal)
            ? $"executable not found (or not executable): {candidates.First()}"
            : $"executable not found on PATH: {command}";
        return false;
    }

    private static bool IsExecutable(string path) =>
        OperatingSystem.IsWindows() || (File.GetUnixFileMode(path) & (UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)) != 0;

    /// <summary>.NET reports a child killed by signal N as exit code 128+N, as shells do.</summary>
    internal static string ExitReason(int exitCode) =>
        exitCode is > 128 and < 128 + 65 ? $"killed by signal {exitCode - 128}" : $"exit code {exitCode}";

    /// <summary>A cgroup directory name from the job name: job names are unique per attempt already.</summary>
    internal static string CgroupName(string jobName)
    {
        var name = new StringBuilder(jobName.Length);
        foreach (var c in jobName)
        {
            name.Append(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_');
        }
        var text = name.ToString().TrimStart('.');
        // Keep names unique when cut to the file-name limit; the owner prefix lets a sweep find orphans.
        return OwnerPrefix + (text.Length <= 200 ? text : text[..180] + "-" + Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(jobName)))[..16]);
    }

    private JobStatus Ended(LocalJob job, JobState state, string? reason, DateTimeOffset? startedAt) => new()
    {
        State = state,
        JobId = job.Request.Job.JobName,
        Reason = reason,
        StartedAt = startedAt,
        EndedAt = _time.GetUtcNow(),
        Details = Details(job.MemoryMb, job.Gpus),
    };

    private static ImmutableDictionary<string, string> Details(int memoryMb, int gpus = 0)
    {
        var details = ImmutableDictionary<string, string>.Empty.Add("memoryMb", memoryMb.ToString(CultureInfo.InvariantCulture)).Add(CostFacts.Billing, CostFacts.Local);
        return gpus > 0 ? details.Add("gpusRequested", gpus.ToString(CultureInfo.InvariantCulture)) : details;
    }

    /// <summary>What the job used, for its cost: read once it has ended, before its cgroup is removed.</summary>
    private static IEnumerable<KeyValuePair<string, string>> UsageFacts(JobCgroup cgroup)
    {
        var (cpuSeconds, memoryPeak) = cgroup.ReadUsage();
        if (cpuSeconds is { } cpu)
        {
            yield return new(CostFacts.CpuSeconds, cpu.ToString("0.######", CultureInfo.InvariantCulture));
        }
        if (memoryPeak is { } peak)
        {
            yield return new(CostFacts.MemoryPeakBytes, peak.ToString(CultureInfo.InvariantCulture));
        }
    }

    /// <summary>Keeps the last finished jobs only (called under the lock).</summary>
    private void Forget(LocalJob job)
    {
        _finished.Enqueue(job.Request.Job.JobName);
        while (_finished.Count > FinishedJobsKept)
        {
            _jobs.Remove(_finished.Dequeue());
        }
    }

    private static int DefaultCapacityMb() =>
        (int)Math.Min(int.MaxValue, GC.GetGCMemoryInfo().TotalAvailableMemoryBytes * 8 / 10 / (1024 * 1024));

    private static string? FindSetpriv() =>
        new[] { "/usr/bin/setpriv", "/bin/setpriv" }
            .Concat((Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries).Select(d => Path.Combine(d, "setpriv")))
            .FirstOrDefault(p => Path.IsPathRooted(p) && File.Exists(p));

    [LoggerMessage(Level = LogLevel.Information, Message = "Local backend isolation: {Isolation}; memory capacity {CapacityMb} MB")]
    private partial void LogIsolation(string isolation, int capacityMb);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Local backend isolation: {Isolation}; jobs run WITHOUT memory limits; memory capacity {CapacityMb} MB")]
    private partial void LogNoIsolation(string isolation, int capacityMb);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Removed {Count} job cgroup(s) left by silo processes that no longer exist, with their processes")]
    private partial void LogSweptOrphans(int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Sweeping orphaned job cgroups failed: {Error}")]
    private partial void LogSweepFailed(string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "setpriv (util-linux) not found: local jobs will not die with the silo if it is killed")]
    private partial void LogNoSetpriv();

    [LoggerMessage(Level = LogLevel.Information, Message = "Job of {DagId}/{RunId}/{TaskId} attempt {Attempt} already exists as {JobName}: adopted")]
    private partial void LogAdopted(string dagId, string runId, string taskId, int attempt, string jobName);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Job of {DagId}/{RunId}/{TaskId} attempt {Attempt} refused: {Reason}")]
    private partial void LogRefused(string dagId, string runId, string taskId, int attempt, string? reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Job of {DagId}/{RunId}/{TaskId} attempt {Attempt} queued: {Reason}")]
    private partial void LogQueued(string dagId, string runId, string taskId, int attempt, string? reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Local backend GPUs: {Count} ({Ids}) from {Source}")]
    private partial void LogGpus(int count, string ids, string source);

    [LoggerMessage(Level = LogLevel.Information, Message = "Job of {DagId}/{RunId}/{TaskId} attempt {Attempt} started: pid {Pid}, cgroup {Cgroup}")]
    private partial void LogStarted(string dagId, string runId, string taskId, int attempt, int pid, string cgroup);

    [LoggerMessage(Level = LogLevel.Information, Message = "Job of {DagId}/{RunId}/{TaskId} attempt {Attempt} ended {State} (exit code {ExitCode}): {Reason}")]
    private partial void LogEnded(string dagId, string runId, string taskId, int attempt, JobState state, int? exitCode, string? reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Stopping job of {DagId}/{RunId}/{TaskId} attempt {Attempt}")]
    private partial void LogStopping(string dagId, string runId, string taskId, int attempt);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Job {JobName} of {DagId}/{RunId}/{TaskId} attempt {Attempt} is not known to this silo: lost")]
    private partial void LogLost(string dagId, string runId, string taskId, int attempt, string jobName);

    [LoggerMessage(Level = LogLevel.Error, Message = "Job of {DagId}/{RunId}/{TaskId} attempt {Attempt} failed inside the local backend")]
    private partial void LogRunError(Exception exception, string dagId, string runId, string taskId, int attempt);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not remove cgroup {Cgroup} of {DagId}/{RunId}/{TaskId} attempt {Attempt}")]
    private partial void LogCgroupNotRemoved(Exception exception, string dagId, string runId, string taskId, int attempt, string cgroup);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not kill job of {DagId}/{RunId}/{TaskId} attempt {Attempt}")]
    private partial void LogKillFailed(Exception exception, string dagId, string runId, string taskId, int attempt);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Log of {DagId}/{RunId}/{TaskId} attempt {Attempt} failed; the rest of the job's output is dropped")]
    private partial void LogOutputLost(Exception exception, string dagId, string runId, string taskId, int attempt);
}
