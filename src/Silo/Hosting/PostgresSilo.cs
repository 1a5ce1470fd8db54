using System.Net;
using System.Net.Sockets;
using Batchyard.History;
using Batchyard.Logs;
using Batchyard.Silo.Storage.Postgres;
using Npgsql;
using Orleans.Configuration;
using Orleans.Providers;

namespace Batchyard.Silo.Hosting;

/// <summary>
/// The clustered mode: membership, reminders and grain state through Orleans' ADO.NET providers, run history
/// and attempt logs in Batchyard's own tables, the schema applied before the silo starts, failure detection
/// tuned for fast failover, and runs resumed at once on a survivor when a silo dies.
/// </summary>
internal static class PostgresSilo
{
    public static void Configure(ISiloBuilder silo, IConfiguration configuration, BatchyardOptions options)
    {
        var connectionString = configuration.GetConnectionString("Postgres");
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            throw new InvalidOperationException("Batchyard:Storage is Postgres but ConnectionStrings:Postgres is not set");
        }
        var cluster = configuration.GetSection("Batchyard:Cluster").Get<ClusterSettings>() ?? new ClusterSettings();

        // Registered before AddBatchyardGrains, whose TryAdd defaults (memory history, file logs) then stand aside.
        var services = silo.Services;
        services.AddSingleton(cluster);
        var connections = configuration.GetSection("Batchyard:Postgres").Get<PostgresConnections>() ?? new PostgresConnections();
        var journal = configuration.GetSection("Batchyard:Journal").Get<JournalOptions>() ?? new JournalOptions();
        services.AddSingleton(_ => connections.CreateDataSource(connectionString));
        services.AddSingleton(journal);
        services.AddSingleton<PostgresRunJournal>();
        services.AddSingleton<IRunJournal>(sp => sp.GetRequiredService<PostgresRunJournal>());
        services.AddSingleton<IRunHistoryStore>(sp => new PostgresRunHistoryStore(sp.GetRequiredService<NpgsqlDataSource>(), sp.GetRequiredService<IRunJournal>()));
        services.AddSingleton<IAttemptLogStore>(sp => new PostgresAttemptLogStore(sp.GetRequiredService<NpgsqlDataSource>()));
        services.AddSingleton<IAuditLog>(sp => new PostgresAuditLog(sp.GetRequiredService<NpgsqlDataSource>()));
        services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>, SchemaAtStartup>();
        services.AddHostedService<FailoverResumer>();

        silo.UseBatchyardPostgres(connectionString, StorageNames.Batchyard);
        // One connection pool for everything: Orleans' providers open their connections from the same data
        // source (they accept exactly one of a data source and a connection string).
        services.AddOptions<AdoNetClusteringSiloOptions>().Configure<NpgsqlDataSource>((o, ds) => (o.DataSource, o.ConnectionString) = (ds, null));
        services.AddOptions<AdoNetReminderTableOptions>().Configure<NpgsqlDataSource>((o, ds) => (o.DataSource, o.ConnectionString) = (ds, null));
        foreach (var name in new[] { ProviderConstants.DEFAULT_STORAGE_PROVIDER_NAME, StorageNames.Batchyard })
        {
            services.AddOptions<AdoNetGrainStorageOptions>(name).Configure<NpgsqlDataSource>((o, ds) => (o.DataSource, o.ConnectionString) = (ds, null));
        }
        silo.Configure<ClusterOptions>(o =>
        {
            o.ClusterId = cluster.ClusterId;
            o.ServiceId = cluster.ClusterId;
        });
        silo.Configure<ClusterMembershipOptions>(o =>
        {
            o.ProbeTimeout = cluster.ProbeTimeout;
            o.NumMissedProbesLimit = cluster.MissedProbesLimit;
        });

        // Listen on every interface; advertise the configured address (an IP or a name such as a compose
        // service), else this host's first IPv4 address.
        if (options.AdvertisedAddress is not { Length: > 0 } advertised)
        {
            silo.ConfigureEndpoints(options.SiloPort, options.GatewayPort, AddressFamily.InterNetwork, listenOnAnyHostAddress: true);
        }
        else if (IPAddress.TryParse(advertised, out var ip))
        {
            silo.ConfigureEndpoints(ip, options.SiloPort, options.GatewayPort, listenOnAnyHostAddress: true);
        }
        else
        {
            silo.ConfigureEndpoints(advertised, options.SiloPort, options.GatewayPort, AddressFamily.InterNetwork, listenOnAnyHostAddress: true);
        }
    }
}
