using System.Collections.Immutable;
using Batchyard.Datasets;
using Orleans.Concurrency;

namespace Batchyard.Grains;

/// <summary>
/// One dataset, keyed by its name: its updates (numbered, durable), the tasks that produce it and the DAGs that
/// consume it; it tells each consumer of each update until the consumer has heard it.
/// </summary>
public interface IDatasetGrain : IGrainWithStringKey
{
    /// <summary>Records an update once per key (a repeat returns the update the key made) and tells the consumers.</summary>
    Task<DatasetUpdate> RecordAsync(DatasetUpdateRequest request);

    /// <summary>What one DAG does with this dataset now: the tasks of it that produce it and whether it consumes it.</summary>
    Task LinkAsync(string dagId, ImmutableArray<string> producingTasks, bool consumes);

    /// <summary>The dataset with its producers, consumers and recent updates, or null when nothing ever named it.</summary>
    [AlwaysInterleave]
    Task<DatasetInfo?> GetAsync();
}

/// <summary>The names of every dataset ever linked or updated (a single grain, key 0).</summary>
public interface IDatasetRegistryGrain : IGrainWithIntegerKey
{
    /// <summary>Adds a name (idempotent).</summary>
    Task AddAsync(string name);

    /// <summary>Every known name, sorted.</summary>
    [AlwaysInterleave]
    Task<ImmutableArray<string>> ListAsync();
}
