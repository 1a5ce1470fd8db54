using Batchyard.Events;
using Batchyard.Grains;
using Batchyard.History;
using Batchyard.Logs;
using Batchyard.Silo.Storage.Postgres;
using Npgsql;
using Orleans.Configuration;

namespace Batchyard.Silo.Hosting;

/// <summary>What a Batchyard process is: a silo (the default) or only the dashboard, as an Orleans client of a cluster.</summary>
public enum HostRole
{
    Silo,
    Dashboard,
}

/// <summary>
/// <c>Batchyard:Role=Dashboard</c>: the dashboard in its own process, without a silo. It finds the cluster's
/// gateways through the PostgreSQL membership table, talks to the grains as a client, and reads run history
/// and logs from the same database. No run events reach it; its pages refresh on their own tick instead.
/// </summary>
internal static class DashboardRole
{
    public static void Configure(WebApplicationBuilder builder, BatchyardOptions options)
    {
        if (options.Storage != StorageMode.Postgres)
        {
            throw new InvalidOperationException(
                "Batchyard:Role=Dashboard needs Batchyard:Storage=Postgres: it finds the silos and the run history in PostgreSQL " +
                "(in the embedded mode the silo serves the dashboard itself)");
        }
        var connectionString = builder.Configuration.GetConnectionString("Postgres");
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            throw new InvalidOperationException("Batchyard:Role=Dashboard needs ConnectionStrings:Postgres");
        }
        var cluster = builder.Configuration.GetSection("Batchyard:Cluster").Get<ClusterSettings>() ?? new ClusterSettings();
        builder.UseOrleansClient(client =>
        {
            client.UseBatchyardPostgres(connectionString);
            client.Configure<ClusterOptions>(o => (o.ClusterId, o.ServiceId) = (cluster.ClusterId, cluster.ClusterId));
        });

        var services = builder.Services;
        services.AddSingleton(TimeProvider.System);
        var connections = builder.Configuration.GetSection("Batchyard:Postgres").Get<PostgresConnections>() ?? new PostgresConnections();
        services.AddSingleton(_ => connections.CreateDataSource(connectionString));
        services.AddSingleton(new JournalOptions { Writers = 1 });
        services.AddSingleton<PostgresRunJournal>();
        services.AddSingleton<IRunJournal>(sp => sp.GetRequiredService<PostgresRunJournal>());
        services.AddSingleton<IRunHistoryStore>(sp => new PostgresRunHistoryStore(sp.GetRequiredService<NpgsqlDataSource>(), sp.GetRequiredService<IRunJournal>()));
        services.AddSingleton<IAttemptLogStore>(sp => new PostgresAttemptLogStore(sp.GetRequiredService<NpgsqlDataSource>()));
        services.AddSingleton<IAuditLog>(sp => new PostgresAuditLog(sp.GetRequiredService<NpgsqlDataSource>()));
        services.AddSingleton<RunEvents>();
    }

    /// <summary><c>/healthz</c>, and <c>/readyz</c>: the cluster answers this client.</summary>
    public static void MapHealth(WebApplication app)
    {
        app.MapGet("/healthz", () => TypedResults.Ok(new { status = "ok" }));
        app.MapGet("/readyz", async (IGrainFactory grains) =>
        {
            try
            {
                await grains.GetGrain<IDagRegistryGrain>(0).ListAsync().WaitAsync(TimeSpan.FromSeconds(5));
                return Results.Ok(new { status = "ready", role = "dashboard", cluster = "reachable" });
            }
            catch (Exception ex) when (ex is TimeoutException or OrleansException or InvalidOperationException)
            {
                return Results.Json(new { status = "not ready", role = "dashboard", cluster = "unreachable: " + ex.Message }, statusCode: StatusCodes.Status503ServiceUnavailable);
            }
        });
    }
}
