using System.Net;
using Batchyard.Dags;
using Batchyard.Grains;

namespace Batchyard.Tests.Dags;

public sealed class DagFolderLeaseTests(ClusterFixture fx) : IClassFixture<ClusterFixture>
{
    // Silos the cluster has not seen yet (newer than its own): not dead, so only the term and a release end their lease.
    private SiloAddress A => SiloAddress.New(IPAddress.Loopback, 40001, fx.Cluster.Silos[0].SiloAddress.Generation + 1000);

    private SiloAddress B => SiloAddress.New(IPAddress.Loopback, 40002, fx.Cluster.Silos[0].SiloAddress.Generation + 1000);

    [Fact]
    public async Task TheFirstAskerHoldsIt_OthersSeeTheHolder_UntilItsTermEndsWithoutARenewal()
    {
        var lease = fx.Grains.GetGrain<IDagFolderLeaseGrain>(101);
        Assert.True((await lease.HoldAsync(A, loaded: false)).IsHeldBy(A));
        var seen = await lease.HoldAsync(B, loaded: false);
        Assert.True(seen.IsHeldBy(A));
        Assert.False(seen.Loaded);

        // A renews within its term and says it has loaded the folder: B sees it loaded, still held by A.
        fx.Time.Advance(DagFolderLeaseGrain.Term / 2);
        await lease.HoldAsync(A, loaded: true);
        fx.Time.Advance(DagFolderLeaseGrain.Term / 2);
        seen = await lease.HoldAsync(B, loaded: false);
        Assert.True(seen.IsHeldBy(A));
        Assert.True(seen.Loaded);

        // A stops renewing: once its term is over, the next asker takes it, and the DAGs stay loaded.
        fx.Time.Advance(DagFolderLeaseGrain.Term);
        seen = await lease.HoldAsync(B, loaded: false);
        Assert.True(seen.IsHeldBy(B));
        Assert.True(seen.Loaded);
        Assert.True((await lease.HoldAsync(A, loaded: true)).IsHeldBy(B));
    }

    [Fact]
    public async Task AReleasedLease_GoesToTheNextAsker_AndOnlyItsHolderCanReleaseIt()
    {
        var lease = fx.Grains.GetGrain<IDagFolderLeaseGrain>(102);
        await lease.HoldAsync(A, loaded: true);
        await lease.ReleaseAsync(B);
        Assert.True((await lease.HoldAsync(B, loaded: false)).IsHeldBy(A));

        await lease.ReleaseAsync(A);
        Assert.True((await lease.HoldAsync(B, loaded: false)).IsHeldBy(B));
    }

    [Fact]
    public async Task AHolderThatLeftTheCluster_LosesItAtOnce()
    {
        var lease = fx.Grains.GetGrain<IDagFolderLeaseGrain>(103);
        var self = fx.Cluster.Silos[0].SiloAddress;
        // The fixture's own silo is active: its lease holds against another asker...
        await lease.HoldAsync(self, loaded: true);
        Assert.True((await lease.HoldAsync(A, loaded: false)).IsHeldBy(self));
        // ...but not a holder the cluster knows to be gone: an earlier incarnation of the same endpoint is dead.
        var older = SiloAddress.New(self.Endpoint.Address, self.Endpoint.Port, self.Generation - 1);
        var other = fx.Grains.GetGrain<IDagFolderLeaseGrain>(104);
        await other.HoldAsync(older, loaded: true);
        Assert.True((await other.HoldAsync(A, loaded: false)).IsHeldBy(A));
    }
}
