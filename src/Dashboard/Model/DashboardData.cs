using System.Collections.Immutable;
using Batchyard.Access;
using Batchyard.Costs;
using Batchyard.Dags;
using Batchyard.Datasets;
using Batchyard.Dashboard.Hosting;
using Batchyard.Grains;
using Batchyard.History;
using Batchyard.Logs;
using Batchyard.Runs;

namespace Batchyard.Dashboard.Model;

/// <summary>
/// What the pages read and do: DAG and run state from the grains, run lists from the history store (reads
/// there never activate grains), logs from the attempt log store. Everything is as the signed-in key may: a key
/// limited to tags sees only its DAGs, and a change its role may not make is refused here (the pages also hide
/// its button) and recorded in the audit log like every change.
/// </summary>
public sealed class DashboardData(IGrainFactory grains, IRunHistoryStore history, IAttemptLogStore logs, DashboardCaller callers, AuditTrail audit)
{
    /// <summary>
    /// One UTC month's costs grouped as asked, only <paramref name="dagId"/>'s when given, as the caller may see them
    /// (the cost projection is read, never a journal), with the running sum by day and that DAG's budget.
    /// </summary>
    public async Task<CostsView> CostsAsync(DateTimeOffset monthStart, CostGrouping grouping, string? dagId, DateTimeOffset now)
    {
        var caller = await CallerAsync();
        var page = await grains.GetGrain<IDagRegistryGrain>(0).QueryAsync(new DagQuery { VisibleTags = caller.IsTagLimited ? caller.Tags : [] });
        var dags = page.Items.ToDictionary(d => d.DagId, d => new CostDag(d.Owner, d.Tags), StringComparer.Ordinal);
        var end = monthStart.AddMonths(1);
        var cells = await history.SumCostsAsync(monthStart, end);
        bool Sees(string id) => (!caller.IsTagLimited || dags.ContainsKey(id)) && (string.IsNullOrEmpty(dagId) || id == dagId);
        var groups = CostReports.Build(cells, grouping, monthStart, end, dags, Sees);
        var byDay = CostReports.Build(cells, CostGrouping.Day, monthStart, end, dags, Sees);
        var (days, running) = CostsView.RunningSum(byDay, monthStart, now);
        var budget = string.IsNullOrEmpty(dagId) ? null : (await GetDagAsync(dagId))?.Budget;
        return new CostsView(CostsView.MonthOf(monthStart), groups, days, running, budget);
    }

    /// <summary>A page of the DAGs matching <paramref name="query"/>, by id, with counts over every DAG the caller sees (filtered by the registry, no DAG grain is called).</summary>
    public async Task<DagPage> QueryDagsAsync(DagQuery query)
    {
        ArgumentNullException.ThrowIfNull(query);
        var caller = await CallerAsync();
        return await grains.GetGrain<IDagRegistryGrain>(0).QueryAsync(query with { VisibleTags = caller.IsTagLimited ? caller.Tags : [] });
    }

    /// <summary>Every tag and owner with its number of DAGs, for the filter menus.</summary>
    public async Task<DagFacets> GetDagFacetsAsync()
    {
        var caller = await CallerAsync();
        return await grains.GetGrain<IDagRegistryGrain>(0).GetFacetsAsync(caller.IsTagLimited ? caller.Tags : []);
    }

    /// <summary>The signed-in caller; a session whose key went sees and may do nothing.</summary>
    public async Task<Caller> CallerAsync() => await callers.GetAsync() ?? Caller.Nobody;

    public async Task<DagInfo?> GetDagAsync(string dagId) =>
        await grains.GetGrain<IDagGrain>(dagId).GetAsync() is { Deleted: false } info && (await CallerAsync()).SeesDag(info) ? info : null;

    public Task<ImmutableArray<DateTimeOffset>> GetNextSlotsAsync(string dagId, int count) =>
        grains.GetGrain<IDagGrain>(dagId).GetNextSlotsAsync(count);

    public Task<DagInfo> SetPausedAsync(string dagId, bool paused) =>
        ChangeAsync(paused ? AuditActions.Pause : AuditActions.Unpause, dagId, null, null, _ => grains.GetGrain<IDagGrain>(dagId).SetPausedAsync(paused));

    public Task<RunDetails> TriggerAsync(string dagId, TriggerRequest request)
    {
        string? runId = null;
        return ChangeAsync(AuditActions.Trigger, dagId, () => runId, null, async caller =>
        {
            var run = await grains.GetGrain<IDagGrain>(dagId).TriggerAsync(request with { TriggeredBy = caller.Name });
            runId = run.RunId;
            return run;
        });
    }

    /// <summary>The newest runs with their tasks (for the grid view), newest first.</summary>
    public async Task<ImmutableArray<RunDetails>> RecentRunsAsync(string dagId, int count, CancellationToken cancellationToken = default)
    {
        if (await GetDagAsync(dagId) is null && (await CallerAsync()).IsTagLimited)
        {
            return [];
        }
        var summaries = await history.ListRunsAsync(dagId, null, null, count, cancellationToken: cancellationToken);
        var runs = await Task.WhenAll(summaries.Select(s => history.GetRunAsync(dagId, s.RunId, cancellationToken)));
        return [.. runs.OfType<RunDetails>()];
    }

    /// <summary>The run as its grain knows it (the freshest view), or the history's snapshot when the grain has none.</summary>
    public async Task<RunDetails?> GetRunAsync(string dagId, string runId)
    {
        if ((await CallerAsync()).IsTagLimited && await GetDagAsync(dagId) is null)
        {
            return null;
        }
        return await Run(dagId, runId).GetAsync() ?? await history.GetRunAsync(dagId, runId);
    }

    public Task<RunDetails> CancelRunAsync(string dagId, string runId) =>
        ChangeAsync(AuditActions.Cancel, dagId, () => runId, null, _ => Run(dagId, runId).CancelAsync());

    public Task<RunDetails> ClearTaskAsync(string dagId, string runId, string taskId) =>
        ChangeAsync(AuditActions.Clear, dagId, () => runId, taskId, _ => Run(dagId, runId).ClearTaskAsync(taskId));

    public async Task<LogPage> ReadLogAsync(string dagId, string runId, string taskId, int attempt, long cursor, CancellationToken cancellationToken)
    {
        if ((await CallerAsync()).IsTagLimited && await GetDagAsync(dagId) is null)
        {
            return new LogPage("", cursor);
        }
        return await logs.ReadAsync(dagId, runId, taskId, attempt, cursor, 64 * 1024, cancellationToken);
    }

    /// <summary>The DAG's newest <paramref name="count"/> backfills with their progress, newest first.</summary>
    public async Task<ImmutableArray<BackfillInfo>> BackfillsAsync(string dagId, int count)
    {
        if (await GetDagAsync(dagId) is null)
        {
            return [];
        }
        var ids = await grains.GetGrain<IDagGrain>(dagId).ListBackfillsAsync();
        var backfills = await Task.WhenAll(ids.Take(count).Select(id => Backfill(dagId, id).GetAsync()));
        return [.. backfills.OfType<BackfillInfo>()];
    }

    /// <summary>Starts a backfill; a range the DAG cannot backfill is an <see cref="ArgumentException"/> saying why.</summary>
    public Task<BackfillInfo> CreateBackfillAsync(string dagId, BackfillRequest request)
    {
        string? backfillId = null;
        return ChangeAsync(AuditActions.Backfill, dagId, () => backfillId, null, async caller =>
        {
            var backfill = await grains.GetGrain<IDagGrain>(dagId).CreateBackfillAsync(request with { CreatedBy = caller.Name });
            backfillId = backfill.BackfillId;
            return backfill;
        });
    }

    public Task<BackfillInfo> CancelBackfillAsync(string dagId, string backfillId) =>
        ChangeAsync(AuditActions.CancelBackfill, dagId, () => backfillId, null, _ => Backfill(dagId, backfillId).CancelAsync());

    /// <summary>Every dataset by name, as <c>GET /api/v1/datasets</c> lists them (names carry no DAG tags: every key sees them).</summary>
    public async Task<ImmutableArray<DatasetInfo>> DatasetsAsync()
    {
        var names = await grains.GetGrain<IDatasetRegistryGrain>(0).ListAsync();
        var datasets = await Task.WhenAll(names.Select(name => grains.GetGrain<IDatasetGrain>(name).GetAsync()));
        return [.. datasets.OfType<DatasetInfo>().OrderBy(d => d.Name, StringComparer.Ordinal)];
    }

    /// <summary>A change (each an operator's): refused and recorded as denied when the caller may not, else made and recorded.</summary>
    private async Task<T> ChangeAsync<T>(string action, string dagId, Func<string?>? runId, string? taskId, Func<Caller, Task<T>> change)
    {
        var caller = await CallerAsync();
        var info = await grains.GetGrain<IDagGrain>(dagId).GetAsync();
        if (!caller.Allows(Permission.Operate) || info is null || !caller.SeesDag(info))
        {
            var detail = caller.Allows(Permission.Operate) ? $"DAG '{dagId}' is not one of this key's DAGs" : $"the key '{caller.Name}' ({caller.Role.Name()}) may not {action}";
            await audit.RecordAsync(caller, action, dagId, runId?.Invoke(), taskId, AuditOutcomes.Denied, caller.Allows(Permission.Operate) ? 404 : 403, detail);
            throw new UnauthorizedAccessException(detail);
        }
        try
        {
            var result = await change(caller);
            await audit.RecordAsync(caller, action, dagId, runId?.Invoke(), taskId, AuditOutcomes.Ok, action == AuditActions.Trigger ? 202 : action == AuditActions.Backfill ? 201 : 200);
            return result;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // A grain refuses what it cannot do (a backfill's range) with an ArgumentException: the caller's mistake.
            await audit.RecordAsync(caller, action, dagId, runId?.Invoke(), taskId, AuditOutcomes.Error, ex is ArgumentException ? 400 : 500, ex.Message);
            throw;
        }
    }

    private IBackfillGrain Backfill(string dagId, string backfillId) => grains.GetGrain<IBackfillGrain>(dagId + "/" + backfillId);

    private IDagRunGrain Run(string dagId, string runId) => grains.GetGrain<IDagRunGrain>(RunKeys.Run(dagId, runId));
}
