using System.Globalization;

namespace Batchyard.Backends.Local;

/// <summary>The local backend's description of itself: whether jobs get memory-limited cgroups, and how much of the host's budget they hold.</summary>
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
            ],
        };
    }
}
