namespace Batchyard.Silo.Hosting;

/// <summary>Clustering, reminders and grain storage for the chosen <see cref="StorageMode"/>.</summary>
public static class SiloStorage
{
    public static void Configure(ISiloBuilder silo, WebApplicationBuilder builder, BatchyardOptions options)
    {
        switch (options.Storage)
        {
            case StorageMode.Memory:
                silo.UseLocalhostClustering(options.SiloPort, options.GatewayPort);
                silo.AddMemoryGrainStorage(StorageNames.Batchyard);
                silo.UseInMemoryReminderService();
                break;
            default:
                throw new InvalidOperationException($"Batchyard:Storage '{options.Storage}' is not supported by this build");
        }
    }
}
