namespace Batchyard.Silo.Hosting;

/// <summary>
/// The <c>Batchyard:Cluster</c> section: how the silos of one PostgreSQL deployment find and watch each other.
/// The defaults declare a killed silo dead in about 3–6 s (Orleans' own take 11–13 s); see docs/clustering.md.
/// </summary>
public sealed record ClusterSettings
{
    /// <summary>Silos with the same id in the same database form one cluster (it is also Orleans' service id).</summary>
    public string ClusterId { get; init; } = "batchyard";

    /// <summary>Initial probe timeout; Orleans adapts the effective one between half and four times this.</summary>
    public TimeSpan ProbeTimeout { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Probes a silo may miss in a row before it is suspected (and, with enough votes, declared dead).</summary>
    public int MissedProbesLimit { get; init; } = 3;

    /// <summary>How long a starting silo keeps retrying an unreachable PostgreSQL before giving up.</summary>
    public TimeSpan StartupRetryLimit { get; init; } = TimeSpan.FromMinutes(2);
}
