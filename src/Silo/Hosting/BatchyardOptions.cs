namespace Batchyard.Silo.Hosting;

/// <summary>Where Batchyard keeps its state.</summary>
public enum StorageMode
{
    /// <summary>One silo, everything in memory: nothing survives a restart.</summary>
    Memory,
    /// <summary>PostgreSQL clustering, reminders, grain state and history.</summary>
    Postgres,
}

/// <summary>The <c>Batchyard</c> configuration section.</summary>
public sealed record BatchyardOptions
{
    /// <summary>A silo (API, dashboard, grains) or only the dashboard as a client of a cluster.</summary>
    public HostRole Role { get; init; } = HostRole.Silo;
    public StorageMode Storage { get; init; } = StorageMode.Memory;
    /// <summary>Folder of <c>*.yaml</c> DAG files, loaded at start and watched.</summary>
    public string DagsFolder { get; init; } = "dags";
    /// <summary>Folder for attempt logs and local job files.</summary>
    public string DataFolder { get; init; } = "data";
    /// <summary>When set, the API requires <c>Authorization: Bearer</c> with it.</summary>
    public string? ApiKey { get; init; }
    /// <summary>Where the gRPC API listens (cleartext HTTP/2); empty turns the separate gRPC port off.</summary>
    public string GrpcUrl { get; init; } = "http://localhost:5081";
    public int SiloPort { get; init; } = 11111;
    public int GatewayPort { get; init; } = 30000;
    /// <summary>The address other silos reach this one at (clustered mode); defaults to this host's.</summary>
    public string? AdvertisedAddress { get; init; }
    /// <summary>How often the DAGs folder is rescanned in case a file-system event was missed.</summary>
    public TimeSpan DagsRescanInterval { get; init; } = TimeSpan.FromSeconds(30);
}
