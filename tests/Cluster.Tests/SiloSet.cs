namespace Batchyard.Cluster.Tests;

/// <summary>The silo processes one test starts and the temp folder they share; disposing stops them all and removes the folder.</summary>
public sealed class SiloSet(string name) : IAsyncDisposable
{
    private readonly List<SiloProcess> _silos = [];

    /// <summary>A temp folder of this test's own (DAG files, markers).</summary>
    public string Folder { get; } = Directory.CreateTempSubdirectory($"batchyard-{name}-").FullName;

    /// <summary>Starts a silo (without waiting for it to be ready); it is stopped with the set.</summary>
    public SiloProcess Start(string siloName, IReadOnlyDictionary<string, string> settings, int? siloPort = null)
    {
        var silo = SiloProcess.Start(siloName, settings, siloPort);
        _silos.Add(silo);
        return silo;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var silo in _silos)
        {
            await silo.DisposeAsync();
        }
        Directory.Delete(Folder, recursive: true);
    }
}
