using System.Globalization;

namespace Batchyard.Backends.Local;

/// <summary>The local backend's description of itself: whether jobs get memory-limited cgroups, and how much of the host's budget they hold, and which jobs hold its GPUs.</summary>
public static class LocalBackendHealth
{
    /// <summary>
    /// The fact that names the isolation in use, <c>cgroup v2 (…)</c> or <c>none: why</c>; /readyz has always
    /// shown it as <c>localIsolation</c>.
    /// </summary>
    public const string IsolationFact = "isolation";

    public static BackendHealth Of(LocalJobBackend backend)
    {
        ArgumentNullException.ThrowIfNull(backend);
        return new BackendHealth
        {
            Backend = backend.Name,
            // Degraded exactly when jobs run without memory limits: they still run, but one can starve the host.
            Status = backend.IsIsolated ? BackendStatus.Ok : BackendStatus.Degraded,
            Message = backend.IsIsolated ? "jobs run in memory-limited cgroups" : "jobs run WITHOUT memory limits",
            Facts =
            [
                new BackendFact { Name = IsolationFact, Value = backend.Isolation },
                new BackendFact
                {
                    Name = "memory in use",
                    Value = string.Create(CultureInfo.InvariantCulture, $"{backend.MemoryInUseMb} / {backend.MemoryCapacityMb} MB"),
                },
                .. GpuFacts(backend),
            ],
        };
    }

    /// <summary>The fact that counts the GPUs: <c>1 / 2 in use (Batchyard:Local:Gpus)</c>, or <c>none: why</c>.</summary>
    public const string GpusFact = "gpus in use";

    /// <summary>Prefix of the fact per GPU (<c>gpu 0</c>): the job holding it, or <c>free</c>.</summary>
    public const string GpuFactPrefix = "gpu ";

    private static IEnumerable<BackendFact> GpuFacts(LocalJobBackend backend)
    {
        var holders = backend.GpuHolders;
        if (holders.IsEmpty)
        {
            yield return new BackendFact { Name = GpusFact, Value = backend.Gpus.Source };
            yield break;
        }
        yield return new BackendFact
        {
            Name = GpusFact,
            Value = string.Create(CultureInfo.InvariantCulture, $"{holders.Count(h => h.Holder is not null)} / {holders.Length} ({backend.Gpus.Source})"),
        };
        foreach (var (id, holder) in holders)
        {
            yield return new BackendFact { Name = GpuFactPrefix + id, Value = holder is null ? "free" : Describe(holder) };
        }
    }

    private static string Describe(JobRef job) =>
        string.Create(CultureInfo.InvariantCulture, $"{job.DagId}/{job.RunId}/{job.TaskId}{(job.MapIndex is { } i ? $"[{i}]" : "")} attempt {job.Attempt}");
}
