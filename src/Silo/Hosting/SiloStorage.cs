using Batchyard.Runs;
using Orleans.Configuration;

namespace Batchyard.Silo.Hosting;

/// <summary>Clustering, reminders and grain storage for the chosen <see cref="StorageMode"/>.</summary>
public static class SiloStorage
{
    public static void Configure(ISiloBuilder silo, WebApplicationBuilder builder, BatchyardOptions options)
    {
        ArgumentNullException.ThrowIfNull(silo);
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(options);
        ConfigureWakePeriod(silo, builder.Configuration);
        switch (options.Storage)
        {
            case StorageMode.Memory:
                silo.UseLocalhostClustering(options.SiloPort, options.GatewayPort);
                silo.AddMemoryGrainStorage(StorageNames.Batchyard);
                silo.UseInMemoryReminderService();
                break;
            case StorageMode.Postgres:
                PostgresSilo.Configure(silo, builder.Configuration, options);
                break;
            default:
                throw new InvalidOperationException($"Batchyard:Storage '{options.Storage}' is not supported by this build");
        }
    }

    /// <summary><c>Batchyard:WakePeriod</c> and <c>Batchyard:Notifications:ReminderPeriod</c> for the grains' reminders; Orleans refuses shorter periods unless told.</summary>
    private static void ConfigureWakePeriod(ISiloBuilder silo, IConfiguration configuration)
    {
        var wake = configuration.GetSection("Batchyard").Get<WakeOptions>() ?? new WakeOptions();
        if (wake.WakePeriod <= TimeSpan.Zero)
        {
            throw new InvalidOperationException($"Batchyard:WakePeriod must be positive, not {wake.WakePeriod}");
        }
        silo.Services.AddSingleton(Microsoft.Extensions.Options.Options.Create(wake));
        var scheduling = configuration.GetSection("Batchyard:Scheduling").Get<Batchyard.Scheduling.SchedulingOptions>() ?? new();
        if (scheduling.Shards is < 1 or > 4096)
        {
            throw new InvalidOperationException($"Batchyard:Scheduling:Shards must be between 1 and 4096, not {scheduling.Shards}");
        }
        if (scheduling.FiresInFlight is < 1 or > 100_000)
        {
            throw new InvalidOperationException($"Batchyard:Scheduling:FiresInFlight must be between 1 and 100000, not {scheduling.FiresInFlight}");
        }
        if (scheduling.Lead < TimeSpan.Zero || scheduling.Lead > TimeSpan.FromMinutes(5))
        {
            throw new InvalidOperationException($"Batchyard:Scheduling:Lead must be between 00:00:00 and 00:05:00, not {scheduling.Lead}");
        }
        silo.Services.AddSingleton(Microsoft.Extensions.Options.Options.Create(scheduling));
        var notifications = Batchyard.Notifications.NotificationOptions.From(configuration);
        silo.Services.AddSingleton(notifications);
        var shortest = wake.WakePeriod < notifications.ReminderPeriod ? wake.WakePeriod : notifications.ReminderPeriod;
        silo.Configure<ReminderOptions>(o =>
        {
            if (shortest < o.MinimumReminderPeriod)
            {
                o.MinimumReminderPeriod = shortest;
            }
        });
    }
}
