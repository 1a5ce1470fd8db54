using Batchyard.Backends;
using Batchyard.Backends.Noop;
using Batchyard.Events;
using Batchyard.History;
using Batchyard.Logs;
using Batchyard.Secrets;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Orleans.Storage;

namespace Batchyard;

public static class BatchyardServices
{
    /// <summary>
    /// What the grains need from DI. Storage-specific services (journal, history, logs) registered before this call win;
    /// otherwise the embedded defaults are used: journal and history in memory, logs as files under <paramref name="logsFolder"/>.
    /// </summary>
    public static IServiceCollection AddBatchyardGrains(this IServiceCollection services, string logsFolder)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddKeyedSingleton(BatchyardClock.Key, (sp, _) => sp.GetRequiredService<TimeProvider>());
        services.TryAddSingleton<BackendCatalog>();
        services.AddMetrics();
        services.TryAddSingleton<Telemetry.BatchyardMetrics>();
        services.AddSingleton<IJobBackend, NoopJobBackend>();
        services.TryAddSingleton<RunEvents>();
        services.TryAddSingleton<Runs.SlotClock>();
        services.TryAddSingleton<Scheduling.FolderLoad>();
        services.TryAddSingleton<Pools.PoolSettings>();
        services.TryAddSingleton(sp => new Costs.AttemptCosts(new Costs.PriceTable(sp.GetService<IConfiguration>()), Costs.LocalPrices.From(sp.GetService<IConfiguration>())));
        services.TryAddSingleton(sp => Runs.CapacityBackoff.From(sp.GetService<IConfiguration>()));
        services.TryAddSingleton(sp => Notifications.NotificationOptions.From(sp.GetService<IConfiguration>()));
        services.TryAddSingleton<Notifications.NotificationSender>();
        services.TryAddSingleton<ISecretResolver>(sp => new ConfigurationSecretResolver(sp.GetService<IConfiguration>()));
        services.TryAddSingleton<MemoryRunJournal>();
        services.TryAddSingleton<IRunJournal>(sp => sp.GetRequiredService<MemoryRunJournal>());
        services.TryAddSingleton<IRunHistoryStore>(sp => sp.GetRequiredService<MemoryRunJournal>());
        services.TryAddSingleton<IAttemptLogStore>(_ => new FileAttemptLogStore(logsFolder));
        services.TryAddSingleton<IAuditLog>(_ => new MemoryAuditLog());
        services.TryAddSingleton<Access.AuditTrail>();
        services.TryAddSingleton(sp => new Access.ApiKeys(sp.GetRequiredService<IConfiguration>()));
        // Grain state is stored in Orleans' own versioned binary format (its [Id] members), not the default
        // Newtonsoft JSON, which cannot read back immutable records and collections.
        services.AddSingleton<IGrainStorageSerializer>(sp => new OrleansGrainStorageSerializer(sp.GetRequiredService<Orleans.Serialization.Serializer>()));
        return services;
    }
}
