using System.Collections.Immutable;
using Batchyard.Dags;
using Batchyard.Grains;
using Batchyard.History;
using Batchyard.Logs;
using Batchyard.Runs;

namespace Batchyard.Dashboard.Model;

/// <summary>
/// What the pages read and do: DAG and run state from the grains, run lists from the history store (reads
/// there never activate grains), logs from the attempt log store.
/// </summary>
public sealed class DashboardData(IGrainFactory grains, IRunHistoryStore history, IAttemptLogStore logs)
{
    /// <summary>A page of the DAGs matching <paramref name="query"/>, by id, with counts over every DAG (filtered by the registry, no DAG grain is called).</summary>
    public Task<DagPage> QueryDagsAsync(DagQuery query) => grains.GetGrain<IDagRegistryGrain>(0).QueryAsync(query);

    /// <summary>Every tag and owner with its number of DAGs, for the filter menus.</summary>
    public Task<DagFacets> GetDagFacetsAsync() => grains.GetGrain<IDagRegistryGrain>(0).GetFacetsAsync();

    public async Task<DagInfo?> GetDagAsync(string dagId) =>
        await grains.GetGrain<IDagGrain>(dagId).GetAsync() is { Deleted: false } info ? info : null;

    public Task<ImmutableArray<DateTimeOffset>> GetNextSlotsAsync(string dagId, int count) =>
        grains.GetGrain<IDagGrain>(dagId).GetNextSlotsAsync(count);

    public Task<DagInfo> SetPausedAsync(string dagId, bool paused) => grains.GetGrain<IDagGrain>(dagId).SetPausedAsync(paused);

    public Task<RunDetails> TriggerAsync(string dagId, TriggerRequest request) =>
        grains.GetGrain<IDagGrain>(dagId).TriggerAsync(request);

    /// <summary>The newest runs with their tasks (for the grid view), newest first.</summary>
    public async Task<ImmutableArray<RunDetails>> RecentRunsAsync(string dagId, int count, CancellationToken cancellationToken = default)
    {
        var summaries = await history.ListRunsAsync(dagId, null, null, count, cancellationToken: cancellationToken);
        var runs = await Task.WhenAll(summaries.Select(s => history.GetRunAsync(dagId, s.RunId, cancellationToken)));
        return [.. runs.OfType<RunDetails>()];
    }

    /// <summary>The run as its grain knows it (the freshest view), or the history's snapshot when the grain has none.</summary>
    public async Task<RunDetails?> GetRunAsync(string dagId, string runId) =>
        await Run(dagId, runId).GetAsync() ?? await history.GetRunAsync(dagId, runId);

    public Task<RunDetails> CancelRunAsync(string dagId, string runId) => Run(dagId, runId).CancelAsync();

    public Task<RunDetails> ClearTaskAsync(string dagId, string runId, string taskId) => Run(dagId, runId).ClearTaskAsync(taskId);

    public Task<LogPage> ReadLogAsync(string dagId, string runId, string taskId, int attempt, long cursor, CancellationToken cancellationToken) =>
        logs.ReadAsync(dagId, runId, taskId, attempt, cursor, 64 * 1024, cancellationToken);

    private IDagRunGrain Run(string dagId, string runId) => grains.GetGrain<IDagRunGrain>(RunKeys.Run(dagId, runId));
}
