namespace Batchyard.Backends.Local;

/// <summary>Settings of the <c>local</c> backend, bound from <c>Batchyard:Local</c>.</summary>
public sealed record LocalBackendOptions
{
    /// <summary>The configuration section these options are bound from.</summary>
    public const string SectionName = "Batchyard:Local";

    /// <summary>Memory the backend may hand out to running jobs together; null means 80% of the host's (or container's) memory.</summary>
    public int? MemoryCapacityMb { get; init; }

    /// <summary>Memory limit of a job whose task sets no <c>resources.memory_mb</c>.</summary>
    public int DefaultMemoryMb { get; init; } = 1024;

    /// <summary>Where a task's relative <c>working_dir</c> (and a task without one) runs.</summary>
    public string BaseDirectory { get; init; } = ".";

    /// <summary>Where jobs write their output files (<c>$BATCHYARD_OUTPUT</c>, one per attempt, removed once read); null: a folder under the system's temp folder.</summary>
    public string? OutputDirectory { get; init; }

    /// <summary>
    /// The cgroup directory to create the <c>batchyard</c> parent cgroup in (a v1 memory-controller
    /// directory or a v2 directory); null finds this process's own cgroup. Tests point it elsewhere.
    /// </summary>
    public string? CgroupRoot { get; init; }

    /// <summary>
    /// The GPUs jobs may hold, comma-separated device indexes or UUIDs (<c>0,1</c>); empty or <c>none</c>: no GPU;
    /// null: the whole GPUs <c>nvidia-smi -L</c> lists, or none without it.
    /// </summary>
    public string? Gpus { get; init; }

    /// <summary>The nvidia-smi to ask when <see cref="Gpus"/> is not set; null looks for <c>nvidia-smi</c> on PATH.</summary>
    public string? NvidiaSmiPath { get; init; }
}
