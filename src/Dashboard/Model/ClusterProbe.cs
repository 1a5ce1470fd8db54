using System.Collections.Immutable;
using Batchyard.Backends;
using Batchyard.Backends.Local;
using Batchyard.Backends.SageMaker;
using Microsoft.Extensions.Configuration;
using Orleans.Runtime;

namespace Batchyard.Dashboard.Model;

public sealed record SiloView(string Address, string Name, string Host, string Status, DateTimeOffset StartedAt, DateTimeOffset LastAlive, int? Activations, long? MemoryUsage, float? CpuUsage);

public sealed record GrainTypeCount(string GrainType, int Activations);

public sealed record BackendView(string Name, bool Healthy, string Summary, ImmutableArray<(string Label, string Value)> Facts);

public sealed record ClusterView(ImmutableArray<SiloView> Silos, ImmutableArray<GrainTypeCount> GrainTypes, ImmutableArray<BackendView> Backends);

/// <summary>Reads the cluster's silos (Orleans' management grain) and the health of this silo's backends.</summary>
public sealed class ClusterProbe(IGrainFactory grains, IServiceProvider services)
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
        return new ClusterView(silos, grainTypes, await BackendsAsync(cancellationToken));
    }

    private async Task<ImmutableArray<BackendView>> BackendsAsync(CancellationToken cancellationToken)
    {
        var catalog = services.GetService(typeof(BackendCatalog)) as BackendCatalog;
        if (catalog is null)
        {
            return [];
        }
        var views = ImmutableArray.CreateBuilder<BackendView>();
        foreach (var name in catalog.Names)
        {
            var backend = catalog.Get(name);
            views.Add(backend switch
            {
                LocalJobBackend local => new BackendView(name, local.IsIsolated,
                    local.IsIsolated ? "jobs run in memory-limited cgroups" : "jobs run WITHOUT memory limits",
                    [("isolation", local.Isolation), ("memory in use", $"{local.MemoryInUseMb} / {local.MemoryCapacityMb} MB")]),
                _ when name.StartsWith("sagemaker", StringComparison.Ordinal) => await SageMakerAsync(name, cancellationToken),
                _ => new BackendView(name, true, "registered", []),
            });
        }
        return views.ToImmutable();
    }

    /// <summary>SageMaker as this silo reaches it: one signed call, cached for a minute by <see cref="SageMakerHealth"/>.</summary>
    private async Task<BackendView> SageMakerAsync(string name, CancellationToken cancellationToken)
    {
        if (services.GetService(typeof(SageMakerHealth)) is not SageMakerHealth health)
        {
            return new BackendView(name, false, "registered without a health check", []);
        }
        var report = await health.CheckAsync(cancellationToken);
        return new BackendView(name, report.Reachable, report.Summary,
            [("endpoint", report.Endpoint ?? "—"), ("region", report.Region ?? "—"), ("checked", Format.Time(report.CheckedAt))]);
    }

    private static string ShortType(string grainType)
    {
        var comma = grainType.IndexOf(',', StringComparison.Ordinal);
        var type = comma > 0 ? grainType[..comma] : grainType;
        return type.Trim();
    }
}
