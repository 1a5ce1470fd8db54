namespace Batchyard;

/// <summary>Names of the Orleans providers the grains use; the silo registers them per storage mode.</summary>
public static class StorageNames
{
    /// <summary>Grain state of DAG, run and task grains.</summary>
    public const string Batchyard = "batchyard";
}
