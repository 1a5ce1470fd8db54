using System.Collections.Immutable;
using Batchyard.Grains;
using Microsoft.Extensions.Logging;

namespace Batchyard.Datasets;

/// <summary>What a dataset grain persists.</summary>
[GenerateSerializer]
public sealed class DatasetState
{
    /// <summary>The sequence number of the newest update (0: none yet).</summary>
    [Id(0)] public long Seq { get; set; }
    /// <summary>The newest updates, oldest first, with the keys that made them (at most <see cref="DatasetGrain.KeysKept"/>).</summary>
    [Id(1)] public List<KeptUpdate> Updates { get; set; } = [];
    /// <summary>Producing tasks, by DAG.</summary>
    [Id(2)] public Dictionary<string, ImmutableArray<string>> Producers { get; set; } = new(StringComparer.Ordinal);
    [Id(3)] public HashSet<string> Consumers { get; set; } = new(StringComparer.Ordinal);
    /// <summary>Consumers that may not have heard of the newest update yet.</summary>
    [Id(4)] public HashSet<string> Undelivered { get; set; } = new(StringComparer.Ordinal);
    [Id(5)] public bool Registered { get; set; }
}

/// <summary>One update with the idempotency key that recorded it.</summary>
[GenerateSerializer, Immutable]
public sealed record KeptUpdate([property: Id(0)] string Key, [property: Id(1)] DatasetUpdate Update);

/// <summary>
/// One dataset: records each update once (by its key), durably, then tells every consuming DAG of the newest
/// update until it has heard it: at once, again from a reminder while any consumer has not, and again when the
/// grain activates. Consumers ignore what they already know, so telling twice is harmless; telling too little
/// is what the reminder prevents.
/// </summary>
public sealed partial class DatasetGrain(
    [PersistentState("dataset", StorageNames.Batchyard)] IPersistentState<DatasetState> store,
    [Microsoft.Extensions.DependencyInjection.FromKeyedServices(BatchyardClock.Key)] TimeProvider time,
    ILogger<DatasetGrain> logger) : Grain, IDatasetGrain, IRemindable
{
    /// <summary>Updates (and so idempotency keys) kept: a repeat older than these would record again.</summary>
    internal const int KeysKept = 1000;
    private const string DeliverReminder = "deliver";
    private static readonly TimeSpan RedeliverEvery = TimeSpan.FromMinutes(1);

    private DatasetState S => store.State;
    private string Name => this.GetPrimaryKeyString();
    private bool _delivering;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (S.Undelivered.Count > 0)
        {
            DeliverSoon();
        }
        return Task.CompletedTask;
    }

    public async Task<DatasetUpdate> RecordAsync(DatasetUpdateRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        foreach (var kept in S.Updates)
        {
            if (kept.Key == request.Key)
            {
                return kept.Update;
            }
        }
        var update = new DatasetUpdate { Dataset = Name, Seq = S.Seq + 1, At = time.GetUtcNow(), Source = request.Source };
        S.Seq = update.Seq;
        S.Updates.Add(new KeptUpdate(request.Key, update));
        if (S.Updates.Count > KeysKept)
        {
            S.Updates.RemoveRange(0, S.Updates.Count - KeysKept);
        }
        S.Undelivered.UnionWith(S.Consumers);
        await WriteAsync();
        LogUpdated(Name, update.Seq, update.Source.DagId ?? "external", update.Source.RunId ?? "", update.Source.TaskId ?? "");
        if (S.Undelivered.Count > 0)
        {
            await this.RegisterOrUpdateReminder(DeliverReminder, RedeliverEvery, RedeliverEvery);
            DeliverSoon();
        }
        return update;
    }

    public async Task LinkAsync(string dagId, ImmutableArray<string> producingTasks, bool consumes)
    {
        ArgumentNullException.ThrowIfNull(dagId);
        var changed = false;
        if (producingTasks.IsDefaultOrEmpty)
        {
            changed |= S.Producers.Remove(dagId);
        }
        else if (!S.Producers.TryGetValue(dagId, out var tasks) || !tasks.SequenceEqual(producingTasks))
        {
            S.Producers[dagId] = producingTasks;
            changed = true;
        }
        // A new consumer waits for the next update: what happened before it consumed does not start it.
        changed |= consumes ? S.Consumers.Add(dagId) : S.Consumers.Remove(dagId) | S.Undelivered.Remove(dagId);
        if (changed || !S.Registered)
        {
            await WriteAsync();
        }
    }

    public Task<DatasetInfo?> GetAsync() => Task.FromResult(
        S.Seq == 0 && S.Producers.Count == 0 && S.Consumers.Count == 0 && !S.Registered ? null : Info());

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (reminderName != DeliverReminder)
        {
            return;
        }
        if (S.Undelivered.Count == 0)
        {
            if (await this.GetReminder(DeliverReminder) is { } reminder)
            {
                await this.UnregisterReminder(reminder);
            }
            return;
        }
        DeliverSoon();
    }

    private async Task WriteAsync()
    {
        var register = !S.Registered;
        S.Registered = true;
        await store.WriteStateAsync();
        if (register)
        {
            await GrainFactory.GetGrain<IDatasetRegistryGrain>(0).AddAsync(Name);
        }
    }

    /// <summary>
    /// Delivers on a turn of its own that interleaves: a consumer's run may produce this very dataset, and its
    /// update must not wait behind the delivery that started the run.
    /// </summary>
    private void DeliverSoon()
    {
        if (_delivering)
        {
            return;
        }
        _delivering = true;
        IGrainTimer? timer = null;
        timer = this.RegisterGrainTimer(async () =>
        {
            timer?.Dispose();
            try
            {
                await DeliverAsync();
            }
            finally
            {
                _delivering = false;
            }
        }, new GrainTimerCreationOptions(TimeSpan.Zero, Timeout.InfiniteTimeSpan) { Interleave = true });
    }

    private async Task DeliverAsync()
    {
        while (S.Undelivered.Count > 0 && S.Updates.Count > 0)
        {
            var update = S.Updates[^1].Update;
            var owed = S.Undelivered.ToList();
            var results = await Task.WhenAll(owed.Select(async dagId =>
            {
                try
                {
                    await GrainFactory.GetGrain<IDagGrain>(dagId).OnDatasetUpdatedAsync(update);
                    return true;
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    LogDeliveryFailed(ex, Name, update.Seq, dagId);
                    return false;
                }
            }));
            if (S.Seq != update.Seq)
            {
                // A newer update came meanwhile: it is owed to every consumer again.
                continue;
            }
            // In memory only: the stored set may still name a consumer that heard, which hears again after a
            // restart and ignores it.
            for (var i = 0; i < owed.Count; i++)
            {
                if (results[i])
                {
                    S.Undelivered.Remove(owed[i]);
                }
            }
            break;
        }
    }

    private DatasetInfo Info()
    {
        var producers = S.Producers.OrderBy(p => p.Key, StringComparer.Ordinal)
            .SelectMany(p => p.Value.Select(task => new DatasetProducer { DagId = p.Key, TaskId = task }))
            .ToImmutableArray();
        var recent = ImmutableArray.CreateBuilder<DatasetUpdate>(Math.Min(S.Updates.Count, DatasetInfo.UpdatesKept));
        for (var i = S.Updates.Count - 1; i >= 0 && recent.Count < DatasetInfo.UpdatesKept; i--)
        {
            recent.Add(S.Updates[i].Update);
        }
        return new DatasetInfo
        {
            Name = Name,
            Producers = producers,
            Consumers = [.. S.Consumers.Order(StringComparer.Ordinal)],
            LastUpdate = S.Updates.Count > 0 ? S.Updates[^1].Update : null,
            Warning = DatasetInfo.WarningFor(Name, producers.Length, S.Consumers.Count),
            RecentUpdates = recent.ToImmutable(),
        };
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "dataset {Dataset}: update {Seq} from {DagId}/{RunId}/{TaskId}")]
    private partial void LogUpdated(string dataset, long seq, string dagId, string runId, string taskId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "dataset {Dataset}: update {Seq} did not reach {DagId} yet; it is sent again")]
    private partial void LogDeliveryFailed(Exception ex, string dataset, long seq, string dagId);
}

/// <summary>What the dataset registry persists.</summary>
[GenerateSerializer]
public sealed class DatasetRegistryState
{
    [Id(0)] public HashSet<string> Names { get; set; } = new(StringComparer.Ordinal);
}

/// <summary>The names of the known datasets, so that a list can ask each one.</summary>
public sealed class DatasetRegistryGrain(
    [PersistentState("dataset-registry", StorageNames.Batchyard)] IPersistentState<DatasetRegistryState> store) : Grain, IDatasetRegistryGrain
{
    public async Task AddAsync(string name)
    {
        if (store.State.Names.Add(name))
        {
            await store.WriteStateAsync();
        }
    }

    public Task<ImmutableArray<string>> ListAsync() =>
        Task.FromResult(store.State.Names.Order(StringComparer.Ordinal).ToImmutableArray());
}
