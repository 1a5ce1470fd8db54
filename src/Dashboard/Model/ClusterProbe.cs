using System.Collections.Immutable;
using Batchyard.Backends;
using Orleans.Runtime;

namespace Batchyard.Dashboard.Model;

public sealed record SiloView(string Address, string Name, string Host, string Status, DateTimeOffset StartedAt, DateTimeOffset LastAlive, int? Activations, long? MemoryUsage, float? CpuUsage);

public sealed record GrainTypeCount(string GrainType, int Activations);

public sealed record ClusterView(ImmutableArray<SiloView> Silos, ImmutableArray<GrainTypeCount> GrainTypes, ImmutableArray<BackendHealth> Backends);

/// <summary>
/// Reads the cluster's silos (Orleans' management grain) and this host's backends as each describes itself. A
/// dashboard that runs as its own process has no backends: it shows none.
/// </summary>
public sealed class ClusterProbe(IGrainFactory grains, BackendCatalog? backends = null)
{

    public async Task<ClusterView> ReadAsync(CancellationToken cancellationToken)
    {
        var management = grains.GetGrain<IManagementGrain>(0);
        var hosts = await management.GetDetailedHosts(onlyActive: false);
        var active = hosts.Where(h => h.Status == SiloStatus.Active).Select(h => h.SiloAddress).ToArray();
        var stats = active.Length == 0 ? [] : await management.GetRuntimeStatistics(active);
        var byAddress = active.Zip(stats).ToDictionary(p => p.First, p => p.Second);
        var silos = hosts
            .OrderBy(h => h.Status == SiloStatus.Active ? 0 : 1).ThenBy(h => h.SiloName, StringComparer.Ordinal)
            .Select(h =>
            {
                var s = byAddress.GetValueOrDefault(h.SiloAddress);
                return new SiloView(h.SiloAddress.ToString(), h.SiloName, h.HostName, h.Status.ToString(), h.StartTime, h.IAmAliveTime,
                    s?.ActivationCount, s?.EnvironmentStatistics.FilteredMemoryUsageBytes, s?.EnvironmentStatistics.FilteredCpuUsagePercentage);
            })
            .ToImmutableArray();
        var grainTypes = (await management.GetSimpleGrainStatistics())
            .GroupBy(g => ShortType(g.GrainType))
            .Select(g => new GrainTypeCount(g.Key, g.Sum(x => x.ActivationCount)))
            .Where(g => g.GrainType.StartsWith("Batchyard", StringComparison.Ordinal) || g.Activations > 0)
            .OrderByDescending(g => g.Activations)
            .ToImmutableArray();
        return new ClusterView(silos, grainTypes, backends is null ? [] : await backends.DescribeHealthAsync(cancellationToken: cancellationToken));
    }

    private static string ShortType(string grainType)
    {
        var comma = grainType.IndexOf(',', StringComparison.Ordinal);
        var type = comma > 0 ? grainType[..comma] : grainType;
        return type.Trim();
    }
}
