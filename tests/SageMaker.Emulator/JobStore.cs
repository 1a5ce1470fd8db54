using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json;

namespace Batchyard.SageMakerEmulator;

/// <summary>Processing or Training, as the emulator keeps them apart (names are unique per kind).</summary>
public enum JobKind
{
    Processing,
    Training,
}

/// <summary>One emulated job: what was asked for, its script, and when things happen to it.</summary>
public sealed class EmulatedJob
{
    public required JobKind Kind { get; init; }
    public required string Name { get; init; }
    public required string Arn { get; init; }
    public required JsonElement Request { get; init; }
    public required JobScript Script { get; init; }
    public required DateTimeOffset CreatedAt { get; init; }
    public required TimeSpan MaxRuntime { get; init; }
    public required int InstanceCount { get; init; }
    public string InstanceType { get; init; } = "";
    /// <summary>Training: <c>EnableManagedSpotTraining</c> was asked for.</summary>
    public bool Spot { get; init; }
    /// <summary>Training: <c>ResourceConfig.KeepAlivePeriodInSeconds</c>, when set (a warm pool).</summary>
    public TimeSpan? KeepAlive { get; init; }
    public DateTimeOffset? StopRequestedAt { get; set; }
    public int DescribeCalls;
    /// <summary>Training: the job that took this job's warm pool, and when (its create).</summary>
    public string? ReusedBy { get; private set; }
    public DateTimeOffset? ReusedAt { get; private set; }
    /// <summary>Training: this job runs on another job's warm pool, so it skips provisioning (no queued time).</summary>
    public bool WarmStart { get; set; }

    /// <summary>How long the warm pool lives after the job: the script's, else <see cref="KeepAlive"/>.</summary>
    public TimeSpan PoolLife => Script.KeepAlive ?? KeepAlive ?? TimeSpan.Zero;

    public DateTimeOffset StartsAt => CreatedAt + (WarmStart ? TimeSpan.Zero : Script.Queued);
    public bool ExceedsMaxRuntime => Script.Run > MaxRuntime;
    public DateTimeOffset NaturalEnd => StartsAt + (ExceedsMaxRuntime ? MaxRuntime : Script.Run);

    /// <summary>When it ends: its natural end, or the stop if that came first.</summary>
    public DateTimeOffset EndsAt => StopRequestedAt is { } stop && stop < NaturalEnd ? stop + Script.StopDelay : NaturalEnd;

    /// <summary>The job as Describe shows it at <paramref name="now"/>.</summary>
    public JobView ViewAt(DateTimeOffset now)
    {
        var stopped = StopRequestedAt is { } stop && stop < NaturalEnd;
        if (now < EndsAt)
        {
            if (stopped && now >= StopRequestedAt)
            {
                return new JobView("Stopping", "Stopping", now >= StartsAt ? StartsAt : null, null, null, null);
            }
            return now < StartsAt
                ? new JobView("InProgress", now < CreatedAt + Script.Queued / 2 ? "Starting" : "Downloading", null, null, null, null)
                : new JobView("InProgress", "Training", StartsAt, null, null, null);
        }
        var started = StopRequestedAt is { } s && s < StartsAt ? (DateTimeOffset?)null : StartsAt;
        if (stopped)
        {
            return new JobView("Stopped", "Stopped", started, EndsAt, null, null);
        }
        if (ExceedsMaxRuntime)
        {
            // Training reports a runaway job as Stopped/MaxRuntimeExceeded; Processing as Failed with that reason.
            return Kind == JobKind.Training
                ? new JobView("Stopped", "MaxRuntimeExceeded", started, EndsAt, "MaxRuntimeExceeded: Training job exceeded MaxRuntimeInSeconds", null)
                : new JobView("Failed", "Failed", started, EndsAt, $"MaxRuntimeExceeded: Processing job exceeded MaxRuntimeInSeconds of {(int)MaxRuntime.TotalSeconds}s", null);
        }
        if (Interrupted)
        {
            return new JobView("Failed", "Interrupted", started, EndsAt, "Training job interrupted: the Spot capacity was reclaimed and could not be resumed within MaxWaitTimeInSeconds", null);
        }
        return Script.Outcome == "Failed"
            ? new JobView("Failed", "Failed", started, EndsAt, Script.FailureReason ?? "AlgorithmError: the container exited with code 1", Script.ExitMessage)
            : new JobView("Completed", "Completed", started, EndsAt, null, Script.ExitMessage);
    }

    /// <summary>A spot job whose script interrupts this attempt.</summary>
    public bool Interrupted => Spot && Script.Interrupted;

    /// <summary>
    /// Training with <see cref="KeepAlive"/>: the warm pool at <paramref name="now"/>, as (status, retained billable
    /// seconds, the job that reused it), or null. As SageMaker keeps one: after a completed job or an algorithm error,
    /// <c>Available</c> for its keep-alive period, then <c>Terminated</c> with that period billed; <c>Reused</c> with the
    /// time until a matching job took it.
    /// </summary>
    public (string Status, int? RetainedSeconds, string? ReusedBy)? WarmPoolAt(DateTimeOffset now)
    {
        if (KeepAlive is null || Kind != JobKind.Training)
        {
            return null;
        }
        var view = ViewAt(now);
        if (view.EndedAt is not { } ended)
        {
            return view.StartedAt is null ? null : ("InUse", null, null);
        }
        var retains = view.Status == "Completed" || (view.Status == "Failed" && !Interrupted && !ExceedsMaxRuntime);
        if (!retains)
        {
            return ("Terminated", 0, null);
        }
        if (ReusedAt is { } taken && now >= taken)
        {
            return ("Reused", Math.Max(0, (int)Math.Ceiling((taken - ended).TotalSeconds)), ReusedBy);
        }
        return now < ended + PoolLife
            ? ("Available", null, null)
            : ("Terminated", (int)Math.Ceiling(PoolLife.TotalSeconds), null);
    }

    /// <summary>Whether <paramref name="job"/> may take this job's warm pool at <paramref name="now"/>: it is available and the clusters match.</summary>
    public bool PoolMatches(EmulatedJob job, DateTimeOffset now) =>
        job.Kind == JobKind.Training && job.KeepAlive is not null && job.Name != Name
        && WarmPoolAt(now) is { Status: "Available" }
        && job.InstanceType == InstanceType && job.InstanceCount == InstanceCount
        && Text(job.Request, "RoleArn") == Text(Request, "RoleArn")
        && Volume(job.Request) == Volume(Request);

    /// <summary>Hands this job's warm pool to <paramref name="job"/>.</summary>
    public void ReuseBy(EmulatedJob job, DateTimeOffset at) => (ReusedBy, ReusedAt) = (job.Name, at);

    private static string? Text(JsonElement request, string name) =>
        request.TryGetProperty(name, out var value) ? value.GetString() : null;

    private static int? Volume(JsonElement request) =>
        request.TryGetProperty("ResourceConfig", out var rc) && rc.TryGetProperty("VolumeSizeInGB", out var gb) ? gb.GetInt32() : null;

    /// <summary>Instances this job holds at <paramref name="at"/>: from its create until it ends.</summary>
    public bool InProgressAt(DateTimeOffset at) => at >= CreatedAt && at < EndsAt;

    /// <summary>Secondary status changes up to <paramref name="now"/> (training jobs show them).</summary>
    public List<(string Status, DateTimeOffset Start, DateTimeOffset? End)> Transitions(DateTimeOffset now)
    {
        // A job on a warm pool has nothing to provision or download: it trains from its create.
        var steps = WarmStart
            ? new List<(string, DateTimeOffset)> { ("Starting", CreatedAt), ("Training", StartsAt) }
            : new List<(string, DateTimeOffset)> { ("Starting", CreatedAt), ("Downloading", CreatedAt + Script.Queued / 2), ("Training", StartsAt) };
        var view = ViewAt(now);
        if (StopRequestedAt is { } stop && stop < NaturalEnd)
        {
            steps.RemoveAll(s => s.Item2 > stop);
            steps.Add(("Stopping", stop));
        }
        if (view.EndedAt is { } end)
        {
            steps.Add((view.Secondary, end));
        }
        var visible = steps.Where(s => s.Item2 <= now).ToList();
        var result = new List<(string, DateTimeOffset, DateTimeOffset?)>();
        for (var i = 0; i < visible.Count; i++)
        {
            result.Add((visible[i].Item1, visible[i].Item2, i + 1 < visible.Count ? visible[i + 1].Item2 : null));
        }
        return result;
    }

    /// <summary>Log events of instance <paramref name="instance"/> (1-based), all of them, visible or not yet.</summary>
    public List<(DateTimeOffset At, string Message)> LogEvents(int instance)
    {
        var events = new List<(DateTimeOffset, string)>();
        var runFor = NaturalEnd - StartsAt;
        var lines = Script.LogLines;
        for (var k = 0; k < lines; k++)
        {
            var at = StartsAt + runFor * ((k + 0.5) / lines);
            if (StopRequestedAt is { } stop && at > stop)
            {
                break;
            }
            events.Add((at, $"[algo-{instance}] {Name} line {k + 1} of {lines}"));
        }
        var view = ViewAt(DateTimeOffset.MaxValue);
        if (view.FailureReason is { } reason && !(StopRequestedAt < NaturalEnd))
        {
            events.Add((NaturalEnd, $"[algo-{instance}] {reason}"));
        }
        return events;
    }

    public string StreamName(int instance) =>
        $"{Name}/algo-{instance}-{StartsAt.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture)}";
}

public sealed record JobView(string Status, string Secondary, DateTimeOffset? StartedAt, DateTimeOffset? EndedAt, string? FailureReason, string? ExitMessage);

/// <summary>Every emulated job, plus the scripts that decide how new jobs behave.</summary>
public sealed class JobStore(EmulatorSettings settings)
{
    private readonly ConcurrentDictionary<(JobKind, string), EmulatedJob> _jobs = new();
    private readonly ConcurrentDictionary<string, JobScript> _scriptsByPrefix = new(StringComparer.Ordinal);

    public IEnumerable<EmulatedJob> All => _jobs.Values;

    /// <summary>Scripts every job whose name starts with <paramref name="prefix"/>.</summary>
    public void Script(string prefix, JobScript script) => _scriptsByPrefix[prefix] = script;

    public JobScript ScriptFor(string name, IReadOnlyDictionary<string, string>? environment)
    {
        var script = _scriptsByPrefix.Where(p => name.StartsWith(p.Key, StringComparison.Ordinal))
            .OrderByDescending(p => p.Key.Length).Select(p => p.Value).FirstOrDefault() ?? settings.DefaultScript;
        if (environment is not null && environment.TryGetValue(JobScript.EnvironmentKey, out var text))
        {
            script = JobScript.Parse(text, script);
        }
        return environment is not null && environment.TryGetValue(JobScript.OutputBodyKey, out var body)
            ? script with { OutputBody = body }
            : script;
    }

    public bool TryAdd(EmulatedJob job) => _jobs.TryAdd((job.Kind, job.Name), job);

    private readonly Lock _pools = new();

    /// <summary>
    /// A new training job with a keep-alive takes the oldest matching available warm pool, if any (that pool's job
    /// shows <c>Reused</c> from now on, and the new job starts without provisioning). Returns the pool's job.
    /// </summary>
    public EmulatedJob? ClaimWarmPool(EmulatedJob job, DateTimeOffset now)
    {
        if (job.Kind != JobKind.Training || job.KeepAlive is null)
        {
            return null;
        }
        lock (_pools)
        {
            var pool = _jobs.Values.Where(j => j.PoolMatches(job, now)).OrderBy(j => j.EndsAt).FirstOrDefault();
            if (pool is not null)
            {
                pool.ReuseBy(job, now);
                job.WarmStart = true;
            }
            return pool;
        }
    }

    public EmulatedJob? Find(JobKind kind, string name) => _jobs.GetValueOrDefault((kind, name));

    /// <summary>Instances of <paramref name="instanceType"/> in progress at <paramref name="at"/>.</summary>
    public int InstancesInProgress(string instanceType, DateTimeOffset at) =>
        _jobs.Values.Where(j => j.InstanceType == instanceType && j.InProgressAt(at)).Sum(j => j.InstanceCount);

    /// <summary>The most instances of <paramref name="instanceType"/> that were in progress at once (from create to end), over every job.</summary>
    public int MaxInstancesAtOnce(string instanceType)
    {
        var jobs = _jobs.Values.Where(j => j.InstanceType == instanceType).ToList();
        // The count only rises at a create, so the creates are the instants to look at.
        return jobs.Count == 0 ? 0 : jobs.Max(j => InstancesInProgress(instanceType, j.CreatedAt));
    }

    public string Arn(JobKind kind, string name) =>
        $"arn:aws:sagemaker:us-east-1:{settings.AccountId}:{(kind == JobKind.Processing ? "processing-job" : "training-job")}/{name.ToLowerInvariant()}";
}
