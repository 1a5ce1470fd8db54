using Batchyard.Grains;
using Microsoft.Extensions.Logging;

namespace Batchyard.Dags;

/// <summary>
/// The DAGs folder's lease, in memory: a holder that stops renewing loses it after <see cref="Term"/>, and one
/// that leaves the cluster (shut down, or declared dead after a crash) loses it at once. When this grain's
/// own silo dies, the lease is given again by a new activation to whichever silo asks first; the holder keeps
/// it if it asks first. Two silos loading the same folder at once (a lease given twice around a crash) is
/// harmless: applying a version a DAG already has writes nothing.
/// </summary>
[CollectionAgeLimit(AlwaysActive = true)]
public sealed partial class DagFolderLeaseGrain(
    [Microsoft.Extensions.DependencyInjection.FromKeyedServices(BatchyardClock.Key)] TimeProvider time,
    IClusterMembershipService membership,
    ILogger<DagFolderLeaseGrain> logger) : Grain, IDagFolderLeaseGrain
{
    /// <summary>How long a lease lasts without a renewal (holders renew every third of it).</summary>
    public static readonly TimeSpan Term = TimeSpan.FromSeconds(15);

    private DagFolderLease? _lease;

    public Task<DagFolderLease> HoldAsync(SiloAddress silo, bool loaded)
    {
        ArgumentNullException.ThrowIfNull(silo);
        var now = time.GetUtcNow();
        if (_lease is { } lease && !lease.IsHeldBy(silo) && lease.Until > now && !HasLeft(lease.Holder))
        {
            return Task.FromResult(lease);
        }
        if (_lease is null || !_lease.IsHeldBy(silo))
        {
            LogGiven(silo.ToString(), _lease?.Holder.ToString() ?? "none");
        }
        _lease = new DagFolderLease { Holder = silo, Until = now + Term, Loaded = loaded || _lease is { Loaded: true } };
        return Task.FromResult(_lease);
    }

    public Task ReleaseAsync(SiloAddress silo)
    {
        if (_lease is { } lease && lease.IsHeldBy(silo))
        {
            _lease = lease with { Until = DateTimeOffset.MinValue };
            LogReleased(silo.ToString());
        }
        return Task.CompletedTask;
    }

    /// <summary>The holder is shutting down or dead in the cluster's membership (a silo not yet seen is not).</summary>
    private bool HasLeft(SiloAddress holder) => membership.CurrentSnapshot.GetSiloStatus(holder) is SiloStatus.ShuttingDown or SiloStatus.Stopping or SiloStatus.Dead;

    [LoggerMessage(Level = LogLevel.Information, Message = "DAGs folder lease: given to {Silo} (was {Previous})")]
    private partial void LogGiven(string silo, string previous);

    [LoggerMessage(Level = LogLevel.Information, Message = "DAGs folder lease: released by {Silo}")]
    private partial void LogReleased(string silo);
}
