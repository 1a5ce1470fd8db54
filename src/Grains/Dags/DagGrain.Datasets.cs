using System.Collections.Immutable;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Batchyard.Datasets;
using Batchyard.Grains;
using Batchyard.Runs;
using Microsoft.Extensions.Logging;

namespace Batchyard.Dags;

/// <summary>
/// A DAG's part in datasets: it tells the datasets it produces and consumes of itself, keeps per consumed
/// dataset the newest update not yet consumed, and starts a <c>dataset</c> run once every one has one. Cron
/// runs go on beside it and consume nothing.
/// </summary>
public sealed partial class DagGrain
{
    public async Task OnDatasetUpdatedAsync(DatasetUpdate update)
    {
        ArgumentNullException.ThrowIfNull(update);
        // Updates made complete before a crash are consumed first, under the id they made then.
        await ConsumeDatasetsAsync();
        if (S.Deleted || S.Definition is not { } definition || !definition.OnDatasets.Contains(update.Dataset))
        {
            return;
        }
        if (S.DatasetConsumed.GetValueOrDefault(update.Dataset) >= update.Seq
            || (S.DatasetPending.TryGetValue(update.Dataset, out var pending) && pending.Seq >= update.Seq))
        {
            // Heard already (a dataset tells again until it knows it was heard).
            return;
        }
        S.DatasetPending[update.Dataset] = update;
        // Durable before the run: a crash after it finds the same updates complete and the run by its id.
        await store.WriteStateAsync();
        await ConsumeDatasetsAsync();
    }

    /// <summary>Starts the dataset run when every consumed dataset has an unconsumed update (and the DAG runs).</summary>
    private async Task ConsumeDatasetsAsync()
    {
        if (S.Deleted || S.Paused || S.Definition is not { OnDatasets.IsDefaultOrEmpty: false } definition
            || !definition.OnDatasets.All(S.DatasetPending.ContainsKey))
        {
            return;
        }
        var triggering = definition.OnDatasets.Select(name => S.DatasetPending[name]).ToImmutableArray();
        var runId = DatasetRunId(triggering);
        var logicalDate = triggering.Max(u => u.At);
        var run = await CreateRunAsync(definition, runId, logicalDate, definition.Params, "dataset", RunStart.Datasets, triggering: triggering);
        LogDatasetRun(DagId, runId, string.Join(", ", triggering.Select(u => $"{u.Dataset}#{u.Seq}")), run is null);
    }

    private void MarkConsumed(ImmutableArray<DatasetUpdate> triggering)
    {
        foreach (var update in triggering)
        {
            S.DatasetConsumed[update.Dataset] = Math.Max(S.DatasetConsumed.GetValueOrDefault(update.Dataset), update.Seq);
            if (S.DatasetPending.TryGetValue(update.Dataset, out var pending) && pending.Seq <= update.Seq)
            {
                S.DatasetPending.Remove(update.Dataset);
            }
        }
    }

    /// <summary>
    /// <c>dataset__{newest update's time}_{hash of the updates}</c>: the same updates always name the same run,
    /// so a redo after a crash finds the run it made instead of making another.
    /// </summary>
    internal static string DatasetRunId(ImmutableArray<DatasetUpdate> triggering)
    {
        var key = string.Join(",", triggering.OrderBy(u => u.Dataset, StringComparer.Ordinal).Select(u => u.Dataset + ":" + u.Seq.ToString(CultureInfo.InvariantCulture)));
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)))[..8];
        return "dataset__" + Stamp(triggering.Max(u => u.At)) + "_" + hash;
    }

    /// <summary>Tells every dataset this DAG names (or named) what it now does with it; null: the DAG is gone.</summary>
    private async Task LinkDatasetsAsync(DagDefinition? definition)
    {
        var produced = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (var task in definition?.Tasks ?? [])
        {
            foreach (var name in task.Produces.IsDefault ? [] : task.Produces)
            {
                (produced.TryGetValue(name, out var tasks) ? tasks : produced[name] = []).Add(task.TaskId);
            }
        }
        var consumed = definition is null || definition.OnDatasets.IsDefault ? [] : definition.OnDatasets;
        var names = new HashSet<string>(produced.Keys.Concat(consumed), StringComparer.Ordinal);
        var all = names.Union(S.DatasetLinks, StringComparer.Ordinal).ToList();
        await Task.WhenAll(all.Select(name => GrainFactory.GetGrain<IDatasetGrain>(name).LinkAsync(
            DagId, produced.TryGetValue(name, out var tasks) ? [.. tasks] : [], consumed.Contains(name))));
        S.DatasetLinks = names;
        foreach (var name in S.DatasetPending.Keys.Where(n => !consumed.Contains(n)).ToList())
        {
            S.DatasetPending.Remove(name);
        }
    }

    /// <summary>The consumed datasets that no task produces now (a warning, not an error: an outside producer may post events).</summary>
    private async Task<ImmutableArray<string>> UnproducedDatasetsAsync()
    {
        if (S.Deleted || S.Definition is not { OnDatasets.IsDefaultOrEmpty: false } definition)
        {
            return [];
        }
        var infos = await Task.WhenAll(definition.OnDatasets.Select(name => GrainFactory.GetGrain<IDatasetGrain>(name).GetAsync()));
        return [.. infos.OfType<DatasetInfo>().Where(i => i.Producers.IsEmpty).Select(i => DatasetInfo.WarningFor(i.Name, 0, 1)!)];
    }

    private async Task WarnOfUnproducedDatasetsAsync()
    {
        foreach (var warning in await UnproducedDatasetsAsync())
        {
            LogDatasetWarning(DagId, warning);
        }
    }

    private async Task<DagInfo> InfoWithWarningsAsync() => Info() with { Warnings = await UnproducedDatasetsAsync() };

    [LoggerMessage(Level = LogLevel.Information, Message = "{DagId}: dataset run {RunId} for {Updates} (existed already: {Existed})")]
    private partial void LogDatasetRun(string dagId, string runId, string updates, bool existed);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{DagId}: {Warning}")]
    private partial void LogDatasetWarning(string dagId, string warning);
}
