using System.Collections.Immutable;
using Batchyard.Grains;
using Microsoft.Extensions.Logging;

namespace Batchyard.Dags;

/// <summary>What the registry grain persists.</summary>
[GenerateSerializer]
public sealed class DagRegistryState
{
    /// <summary>The ids as earlier versions wrote them (one serialized string each); read, no longer written.</summary>
    [Id(0)] public HashSet<string> DagIds { get; set; } = new(StringComparer.Ordinal);

    /// <summary>
    /// The ids, one per line: one string to serialize, not 10,000 (the state is written again and again while a
    /// folder of DAG files loads, and serializing each id as its own object was most of that write's cost).
    /// </summary>
    [Id(1)] public string? Packed { get; set; }

    public IEnumerable<string> Ids() => string.IsNullOrEmpty(Packed) ? DagIds : DagIds.Concat(Packed.Split('\n'));

    public static DagRegistryState Of(IEnumerable<string> ids) => new() { Packed = string.Join('\n', ids) };
}

/// <summary>
/// The known DAGs: their ids (durable) and their list rows (<see cref="DagIndex"/>, in memory). Each DAG grain
/// owns its row and sends it on every change; the rows are a projection, so they are not persisted: a new
/// activation reads each known DAG's row from its grain once, then keeps up from what the DAG grains send.
/// It stays active so that this read happens once per silo that hosts it, not after every idle spell.
/// <para>
/// Reentrant so that DAGs added together (a folder of 10,000 files loaded in parallel) share their writes of
/// the id set: each caller returns once a write begun after its change has completed.
/// </para>
/// </summary>
[CollectionAgeLimit(AlwaysActive = true)]
[Orleans.Concurrency.Reentrant]
public sealed partial class DagRegistryGrain(
    [PersistentState("registry", StorageNames.Batchyard)] IPersistentState<DagRegistryState> store,
    [Microsoft.Extensions.DependencyInjection.FromKeyedServices(BatchyardClock.Key)] TimeProvider time,
    ILogger<DagRegistryGrain> logger) : Grain, IDagRegistryGrain
{
    /// <summary>DAG grains asked at once while the rows are read at activation.</summary>
    private const int ReadConcurrency = 64;

    private readonly DagIndex _index = new();

    /// <summary>
    /// The ids as they are now. The persisted state is a copy made for each write: a storage provider may
    /// serialize the state off the grain's scheduler (ADO.NET does, after it opens its connection), while
    /// this reentrant grain goes on adding ids.
    /// </summary>
    private HashSet<string> _ids = new(StringComparer.Ordinal);

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _ids = new HashSet<string>(store.State.Ids(), StringComparer.Ordinal);
        var started = time.GetTimestamp();
        using var gate = new SemaphoreSlim(ReadConcurrency);
        var rows = await Task.WhenAll(_ids.ToList().Select(async id =>
        {
            await gate.WaitAsync(cancellationToken);
            try
            {
                return await GrainFactory.GetGrain<IDagGrain>(id).GetSummaryAsync();
            }
            finally
            {
                gate.Release();
            }
        }));
        foreach (var row in rows.OfType<DagSummary>())
        {
            _index.Set(row);
        }
        if (_ids.Count > 0)
        {
            LogRead(_index.Count, (long)time.GetElapsedTime(started).TotalMilliseconds);
        }
    }

    public async Task UpsertAsync(DagSummary summary)
    {
        ArgumentNullException.ThrowIfNull(summary);
        _index.Set(summary);
        if (_ids.Add(summary.DagId))
        {
            await CommitAsync();
        }
    }

    public async Task RemoveAsync(string dagId)
    {
        _index.Remove(dagId);
        if (_ids.Remove(dagId))
        {
            await CommitAsync();
        }
    }

    public Task<ImmutableArray<string>> ListAsync() => Task.FromResult(_ids.Order(StringComparer.Ordinal).ToImmutableArray());

    public Task<DagPage> QueryAsync(DagQuery query) => Task.FromResult(_index.Query(query, time.GetUtcNow()));

    public Task<DagFacets> GetFacetsAsync(ImmutableArray<string> visibleTags) => Task.FromResult(_index.Facets(visibleTags));

    private Task? _writing;
    private bool _dirty;

    /// <summary>Group commit: one write at a time, each covering every change made before it began.</summary>
    private async Task CommitAsync()
    {
        _dirty = true;
        while (_dirty || _writing is not null)
        {
            if (_writing is { } running)
            {
                // Begun before this change, perhaps: wait, then write again unless another caller did.
                await running;
                continue;
            }
            _dirty = false;
            store.State = DagRegistryState.Of(_ids);
            var write = store.WriteStateAsync();
            _writing = write;
            try
            {
                await write;
            }
            catch
            {
                _dirty = true;
                throw;
            }
            finally
            {
                _writing = null;
            }
            return;
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "DAG registry: read the list rows of {Count} DAG(s) in {ElapsedMs} ms")]
    private partial void LogRead(int count, long elapsedMs);
}
