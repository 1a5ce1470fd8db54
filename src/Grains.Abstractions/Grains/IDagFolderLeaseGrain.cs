namespace Batchyard.Grains;

/// <summary>
/// Which silo of the cluster loads the DAGs folder (integer key 0). Every silo is given the same folder, as
/// deployed (one volume, or one checkout synced to each): one of them holds the lease, reads and applies the
/// files and follows their changes; the others only ask, and take over when the holder stops renewing or
/// leaves the cluster. Airflow's standalone DAG processor plays this part beside its schedulers.
/// </summary>
public interface IDagFolderLeaseGrain : IGrainWithIntegerKey
{
    /// <summary>
    /// Takes the lease for <paramref name="silo"/> or renews it; <paramref name="loaded"/>: that silo has read the
    /// whole folder once. The answer says who holds it now.
    /// </summary>
    Task<DagFolderLease> HoldAsync(SiloAddress silo, bool loaded);

    /// <summary>Gives the lease up (a silo shutting down), so that another silo takes it at its next ask.</summary>
    Task ReleaseAsync(SiloAddress silo);
}

/// <summary>The lease as it stands: its holder, until when, and whether the cluster's DAGs folder has been loaded once.</summary>
[GenerateSerializer, Immutable]
public sealed record DagFolderLease
{
    [Id(0)] public required SiloAddress Holder { get; init; }
    [Id(1)] public required DateTimeOffset Until { get; init; }
    /// <summary>A holder has read the whole folder once since this lease was first given (its DAGs are in the cluster).</summary>
    [Id(2)] public required bool Loaded { get; init; }

    public bool IsHeldBy(SiloAddress silo) => Holder.Equals(silo);
}
