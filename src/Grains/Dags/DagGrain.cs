using System.Collections.Immutable;
using System.Globalization;
using Batchyard.Backfills;
using Batchyard.Grains;
using Batchyard.History;
using Orleans.Concurrency;
using Batchyard.Runs;
using Batchyard.Scheduling;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Batchyard.Dags;

/// <summary>What a DAG grain persists.</summary>
[GenerateSerializer]
public sealed class DagState
{
    [Id(0)] public DagDefinition? Definition { get; set; }
    [Id(1)] public bool Paused { get; set; }
    [Id(2)] public bool Deleted { get; set; }
    [Id(3)] public ImmutableArray<string> LoadErrors { get; set; } = [];
    [Id(4)] public DateTimeOffset? UpdatedAt { get; set; }
    /// <summary>The newest cron slot already turned into a run (or the moment scheduling began).</summary>
    [Id(5)] public DateTimeOffset? LastSlot { get; set; }
    [Id(6)] public HashSet<string> ActiveRuns { get; set; } = new(StringComparer.Ordinal);
    [Id(7)] public List<string> QueuedRuns { get; set; } = [];
    [Id(8)] public List<RunSummary> RecentRuns { get; set; } = [];
    /// <summary>The month (<c>yyyy-MM</c>, in the DAG's time zone) the budget fields below are about.</summary>
    [Id(70)] public string? BudgetMonth { get; set; }
    [Id(71)] public decimal BudgetSpentUsd { get; set; }
    /// <summary>The thresholds (80, 100) already handed to <c>notify.on_budget</c> in <see cref="BudgetMonth"/>.</summary>
    [Id(72)] public List<int> BudgetNotified { get; set; } = [];
    /// <summary>The budget paused the schedule in <see cref="BudgetMonth"/> (once: a person who resumes it is not overruled).</summary>
    [Id(73)] public bool BudgetPaused { get; set; }
    [Id(74)] public DateTimeOffset? BudgetCheckedAt { get; set; }
    /// <summary>Per consumed dataset, its newest update not yet consumed by a dataset run.</summary>
    [Id(60)] public Dictionary<string, Batchyard.Datasets.DatasetUpdate> DatasetPending { get; set; } = new(StringComparer.Ordinal);
    /// <summary>Per consumed dataset, the sequence number of the newest update a dataset run consumed.</summary>
    [Id(61)] public Dictionary<string, long> DatasetConsumed { get; set; } = new(StringComparer.Ordinal);
    /// <summary>The datasets this DAG told that it produces or consumes them (to untell when that changes).</summary>
    [Id(62)] public HashSet<string> DatasetLinks { get; set; } = new(StringComparer.Ordinal);
    /// <summary>Runs of slots the schedule has not reached yet, made by a manual trigger or a backfill: the schedule skips those slots.</summary>
    [Id(40)] public Dictionary<DateTimeOffset, string> SlotRuns { get; set; } = [];
    /// <summary>The unfinished runs a backfill owns (run id → backfill id): their end is told to the backfill.</summary>
    [Id(41)] public Dictionary<string, string> BackfillRuns { get; set; } = new(StringComparer.Ordinal);
    /// <summary>The DAG's backfills, oldest first.</summary>
    [Id(42)] public List<string> Backfills { get; set; } = [];
}

/// <summary>
/// One DAG: holds its current version, fires its cron slots from a durable reminder (each slot once, keyed by
/// its logical date), and admits runs under <c>max_active_runs</c>, queueing the rest.
/// </summary>
public sealed partial class DagGrain(
    [PersistentState("dag", StorageNames.Batchyard)] IPersistentState<DagState> store,
    [Microsoft.Extensions.DependencyInjection.FromKeyedServices(BatchyardClock.Key)] TimeProvider time,
    ILogger<DagGrain> logger,
    IOptions<SchedulingOptions> scheduling,
    IRunHistoryStore history,
    Orleans.Serialization.Serializer serializer) : Grain, IDagGrain, IRemindable
{
    /// <summary>The per-DAG reminder of earlier versions; schedule shards fire slots now.</summary>
    internal const string ScheduleReminder = "schedule";
    private const int RecentRunsKept = 25;
    private const int CatchupLimit = 1000;
    /// <summary>The run type (and run id prefix) of the runs a backfill makes.</summary>
    internal const string BackfillRunType = "backfill";

    private DagState S => store.State;

    /// <summary>The list row last sent to the registry in this activation (a new activation sends its own once).</summary>
    private DagSummary? _reported;

    private string DagId => this.GetPrimaryKeyString();

    public async Task<DagInfo> ApplyAsync(DagDefinition definition)
    {
        var now = time.GetUtcNow();
        var wasDeleted = S.Deleted || S.Definition is null;
        if (!wasDeleted && S.LoadErrors.IsEmpty && S.LastSlot is not null && Same(S.Definition!, definition))
        {
            // The version it has (another silo loading the same folder, a restarted silo, a PUT of the same
            // file): nothing to write. Its shard and the registry still hear of it, as a new activation's may not have.
            await ArmScheduleAsync();
            await ReportAsync();
            return await InfoWithWarningsAsync();
        }
        S.Definition = definition;
        S.Deleted = false;
        S.LoadErrors = [];
        S.UpdatedAt = now;
        await LinkDatasetsAsync(definition);
        if (wasDeleted || S.LastSlot is null)
        {
            // Scheduling starts now: a new DAG has no missed slots to catch up on.
            S.LastSlot = now;
        }
        await store.WriteStateAsync();
        await ArmScheduleAsync();
        if (definition.Budget is not null)
        {
            // A new or lowered budget may be passed already.
            await CheckBudgetAsync();
        }
        await ReportAsync();
        LogApplied(DagId, definition.Version);
        await WarnOfUnproducedDatasetsAsync();
        return await InfoWithWarningsAsync();
    }

    public async Task RecordRefusedAsync(ImmutableArray<string> problems)
    {
        S.LoadErrors = problems;
        S.UpdatedAt = time.GetUtcNow();
        if (S.Definition is null || S.Deleted)
        {
            S.Deleted = false;
            S.Definition = null;
        }
        await store.WriteStateAsync();
        await ReportAsync();
        LogRefused(DagId, problems.Length);
    }

    public async Task DeleteAsync()
    {
        if (!Exists)
        {
            return;
        }
        S.Deleted = true;
        S.Definition = null;
        S.LoadErrors = [];
        await LinkDatasetsAsync(null);
        var queued = S.QueuedRuns.ToList();
        S.QueuedRuns.Clear();
        await store.WriteStateAsync();
        await Task.WhenAll(queued.Select(runId => RunGrain(runId).CancelAsync()));
        await DisarmScheduleAsync();
        await WithdrawAheadAsync();
        await Registry.RemoveAsync(DagId);
        _reported = null;
        LogDeleted(DagId);
    }

    public async Task<DagInfo?> GetAsync() => Exists ? await InfoWithWarningsAsync() : null;

    public async Task<DagInfo> SetPausedAsync(bool paused)
    {
        RequireDefinition();
        if (S.Paused != paused)
        {
            S.Paused = paused;
            await store.WriteStateAsync();
            if (paused)
            {
                await DisarmScheduleAsync();
                await WithdrawAheadAsync();
            }
            else
            {
                // Missed slots are created now (catchup) or only the newest one is (no catchup).
                await EvaluateScheduleAsync();
                // Updates queued up while paused: a dataset run starts now when they are complete.
                await ConsumeDatasetsAsync();
            }
            await ReportAsync();
        }
        return Info();
    }

    public async Task<RunDetails> TriggerAsync(TriggerRequest request)
    {
        var definition = RequireDefinition();
        var now = time.GetUtcNow();
        var logicalDate = request.LogicalDate ?? now;
        if (request.LogicalDate is { } asked && Cron()?.NextAfter(asked.AddTicks(-1)) == asked && await RunOfSlotAsync(asked) is { } taken)
        {
            // One run per cron slot, whatever made it: the caller clears or reruns that run instead. A date that is
            // no slot of the schedule (or a DAG without one) may have several manual runs, as in Airflow 3, and its
            // trigger reads no history (a burst of triggers waits on no query).
            throw new RunExistsException(taken, asked);
        }
        var parameters = definition.Params.SetItems(request.Params);
        var baseId = "manual__" + Stamp(now);
        for (var n = 1; ; n++)
        {
            var runId = n == 1 ? baseId : $"{baseId}_{n}";
            if (await CreateRunAsync(definition, runId, logicalDate, parameters, "manual", request.TriggeredBy) is { } run)
            {
                return run;
            }
        }
    }

    public async Task<ImmutableArray<string>> EvaluateScheduleAsync()
    {
        if (S.Definition is not { Schedule: not null } definition || S.Paused || S.Deleted || Cron() is not { } cron)
        {
            return [];
        }

        var now = time.GetUtcNow();
        var last = S.LastSlot ?? now;
        var due = cron.Between(last, now).Take(definition.Catchup ? CatchupLimit : int.MaxValue).ToList();
        if (!definition.Catchup && due.Count > 1)
        {
            due = [due[^1]];
        }

        // The first slot still to come is made ahead when it is within the lead, and begins at its instant: a
        // burst of thousands of DAGs due in the same second is made over the lead before it, and only begun at it.
        var fireable = due.Select(slot => (slot, startAt: (DateTimeOffset?)null)).ToList();
        var lead = scheduling.Value.Lead;
        if (lead > TimeSpan.Zero && cron.NextAfter(now) is { } upcoming
            && upcoming - now <= lead && (S.LastSlot is not { } fired || upcoming > fired))
        {
            fireable.Add((upcoming, upcoming));
        }

        var created = ImmutableArray.CreateBuilder<string>();
        foreach (var (slot, startAt) in fireable)
        {
            // The run id is the slot: a slot fired twice (a retried tick, a failover) finds its run and makes none.
            // The slot is recorded in the same write that tracks its run.
            var runId = "scheduled__" + Stamp(slot);
            if (S.SlotRuns.Remove(slot))
            {
                // A manual trigger or a backfill made this slot's run before the schedule reached it.
                S.LastSlot = slot;
                await store.WriteStateAsync();
                continue;
            }
            if (await CreateRunAsync(definition, runId, slot, definition.Params, "scheduled", RunStart.Schedule, firedSlot: slot, startAt: startAt) is not null)
            {
                created.Add(runId);
            }
        }
        await ArmScheduleAsync();
        return created.ToImmutable();
    }

    public async Task<BackfillInfo> CreateBackfillAsync(BackfillRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var definition = RequireDefinition();
        if (BackfillSlots.Check(definition, request, out var total) is { } problem)
        {
            throw new ArgumentException(problem, nameof(request));
        }
        var now = time.GetUtcNow();
        var backfillId = now.UtcDateTime.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture) + "-" + Guid.NewGuid().ToString("N")[..6];
        S.Backfills.Add(backfillId);
        await store.WriteStateAsync();
        LogBackfill(DagId, backfillId, total);
        return await GrainFactory.GetGrain<IBackfillGrain>(BackfillKey(backfillId)).StartAsync(new BackfillPlan
        {
            DagId = DagId,
            BackfillId = backfillId,
            Request = request,
            Cron = definition.Schedule!,
            Timezone = definition.Timezone,
            MaxActiveRuns = request.MaxActiveRuns ?? definition.MaxActiveRuns,
            Total = total,
            CreatedAt = now,
        });
    }

    public Task<ImmutableArray<string>> ListBackfillsAsync() => Task.FromResult(S.Backfills.AsEnumerable().Reverse().ToImmutableArray());

    public async Task<SlotClaim> ClaimSlotAsync(string backfillId, DateTimeOffset slot, BackfillReprocess reprocess)
    {
        ArgumentNullException.ThrowIfNull(backfillId);
        var definition = RequireDefinition();
        if (await RunOfSlotAsync(slot) is not { } existing)
        {
            var runId = BackfillRunType + "__" + Stamp(slot);
            // Owned before it exists: the write that tracks the new run carries it.
            S.BackfillRuns[runId] = backfillId;
            if (await CreateRunAsync(definition, runId, slot, definition.Params, BackfillRunType, "backfill " + backfillId) is not null)
            {
                return new SlotClaim { Outcome = SlotOutcome.Created, RunId = runId };
            }
            existing = runId;
        }

        var run = await RunGrain(existing).GetAsync();
        var ours = S.BackfillRuns.TryGetValue(existing, out var owner) && owner == backfillId;
        if (run is null || !run.State.IsFinal())
        {
            // Unfinished: this backfill's own run (made before a restart) is followed again; any other is left alone.
            if (!ours && S.BackfillRuns.Remove(existing))
            {
                await store.WriteStateAsync();
            }
            return ours && run is not null ? new SlotClaim { Outcome = SlotOutcome.Created, RunId = existing } : new SlotClaim { Outcome = SlotOutcome.Skipped, RunId = existing };
        }
        ImmutableArray<string> clear = reprocess switch
        {
            BackfillReprocess.Failed when run.State == RunState.Failed =>
                [.. run.Tasks.Where(t => t.MapIndex is null && t.State is TaskState.Failed or TaskState.TimedOut).Select(t => t.TaskId)],
            BackfillReprocess.All => [.. run.Tasks.Where(t => t.MapIndex is null && t.Upstream.IsEmpty).Select(t => t.TaskId)],
            _ => [],
        };
        if (clear.IsEmpty)
        {
            return new SlotClaim { Outcome = SlotOutcome.Skipped, RunId = existing };
        }
        S.BackfillRuns[existing] = backfillId;
        await store.WriteStateAsync();
        return new SlotClaim { Outcome = SlotOutcome.Reprocess, RunId = existing, ClearTasks = clear };
    }

    /// <summary>
    /// The run of a logical date whatever made it: a slot the schedule has still to reach is known here; any
    /// other is read from the run history (indexed by DAG and logical date), so a scheduled run costs no read.
    /// </summary>
    private async Task<string?> RunOfSlotAsync(DateTimeOffset logicalDate)
    {
        if (S.SlotRuns.TryGetValue(logicalDate, out var planned))
        {
            return planned;
        }
        var runs = await history.ListRunsAsync(DagId, null, logicalDate.AddTicks(1), 4);
        return runs.FirstOrDefault(r => r.LogicalDate == logicalDate)?.RunId;
    }

    private string BackfillKey(string backfillId) => DagId + "/" + backfillId;

    public Task<ImmutableArray<DateTimeOffset>> GetNextSlotsAsync(int count)
    {
        if (Cron() is not { } cron)
        {
            return Task.FromResult(ImmutableArray<DateTimeOffset>.Empty);
        }
        var slots = ImmutableArray.CreateBuilder<DateTimeOffset>();
        var from = Later(S.LastSlot, time.GetUtcNow());
        while (slots.Count < count && cron.NextAfter(from) is { } next)
        {
            slots.Add(next);
            from = next;
        }
        return Task.FromResult(slots.ToImmutable());
    }

    public async Task OnRunChangedAsync(RunSummary run)
    {
        var index = S.RecentRuns.FindIndex(r => r.RunId == run.RunId);
        if (index >= 0)
        {
            S.RecentRuns[index] = run;
        }
        else
        {
            S.RecentRuns.Add(run);
        }
        S.RecentRuns.Sort((a, b) => b.QueuedAt.CompareTo(a.QueuedAt) is var c && c != 0 ? c : string.CompareOrdinal(b.RunId, a.RunId));
        if (S.RecentRuns.Count > RecentRunsKept)
        {
            S.RecentRuns.RemoveRange(RecentRunsKept, S.RecentRuns.Count - RecentRunsKept);
        }

        var begin = false;
        var tracked = false;
        string? backfill = null;
        if (run.State.IsFinal() && S.BackfillRuns.Remove(run.RunId, out backfill))
        {
            tracked = true;
        }
        if (run.RunType == BackfillRunType)
        {
            // Admitted by its backfill's max_active_runs, not the DAG's.
        }
        else if (run.State.IsFinal())
        {
            tracked = S.ActiveRuns.Remove(run.RunId) | S.QueuedRuns.Remove(run.RunId);
        }
        else if (run.State == RunState.Running)
        {
            tracked = S.QueuedRuns.Remove(run.RunId) | S.ActiveRuns.Add(run.RunId);
        }
        else if (run.State == RunState.Queued)
        {
            // A queued run tells of itself until it begins: admitted already (its begin was lost), or made just
            // before a crash and never tracked here (its place in line is taken now).
            begin = S.ActiveRuns.Contains(run.RunId);
            if (!begin && !S.QueuedRuns.Contains(run.RunId))
            {
                S.QueuedRuns.Add(run.RunId);
                tracked = true;
            }
        }
        if (tracked || run.State.IsFinal())
        {
            // Only what admission depends on must be durable before the run hears back; the recent-runs list
            // rides along with those writes.
            await store.WriteStateAsync();
        }
        if (begin)
        {
            await RunGrain(run.RunId).BeginAsync();
        }
        if (backfill is not null)
        {
            await GrainFactory.GetGrain<IBackfillGrain>(BackfillKey(backfill)).OnRunFinishedAsync(run.RunId, run.State);
        }
        await AdmitQueuedRunsAsync();
        if (run.State.IsFinal() && S.Definition?.Budget is not null)
        {
            await CheckBudgetAsync();
        }
        // Not awaited: a busy DAG (a burst of triggers) must not wait on the list's row for every run change. The
        // DAG is known to the registry already; a lost row update is caught up by the next change.
        ReportSoon();
    }

    /// <summary>
    /// Sums the DAG's cost this calendar month (in its time zone) and hands <c>notify.on_budget</c> each threshold passed (80 %, 100 %)
    /// once a month; at 100 % pauses the schedule when <c>pause_on_exceed</c> asks, once a month. The notification
    /// is handed over before it is recorded, and its event id is the month and threshold, so a crash in between
    /// hands the same notification again, which is one notification.
    /// </summary>
    private async Task CheckBudgetAsync()
    {
        if (S.Definition?.Budget is not { MonthlyUsd: > 0 } budget || S.Deleted)
        {
            return;
        }
        var now = time.GetUtcNow();
        var (month, monthStart, monthEnd) = BudgetMonthOf(now);
        decimal spent;
        try
        {
            spent = await history.SumDagCostAsync(DagId, monthStart, monthEnd);
        }
        catch (Exception ex) when (TransientFaults.IsTransient(ex))
        {
            // The next run's end sums again.
            LogBudgetUnknown(DagId, ex.Message);
            return;
        }
        if (S.BudgetMonth != month)
        {
            S.BudgetMonth = month;
            S.BudgetNotified.Clear();
            S.BudgetPaused = false;
        }
        S.BudgetSpentUsd = spent;
        S.BudgetCheckedAt = now;
        var percent = spent * 100m / budget.MonthlyUsd;
        foreach (var threshold in BudgetThresholds)
        {
            if (percent < threshold || S.BudgetNotified.Contains(threshold))
            {
                continue;
            }
            var pause = threshold == 100 && budget.PauseOnExceed && !S.BudgetPaused;
            var notifiers = S.Definition.Notify.OnBudget;
            if (!notifiers.IsEmpty)
            {
                await GrainFactory.GetGrain<INotificationGrain>($"{DagId}/{month}/on_budget/{threshold}")
                    .SendAsync(BudgetNotification(month, threshold, spent, budget, notifiers, pause, now));
            }
            S.BudgetNotified.Add(threshold);
            LogBudgetPassed(DagId, threshold, spent, budget.MonthlyUsd, month);
            if (pause)
            {
                S.BudgetPaused = true;
                if (!S.Paused)
                {
                    S.Paused = true;
                    await store.WriteStateAsync();
                    await DisarmScheduleAsync();
                    ReportSoon();
                }
            }
        }
        await store.WriteStateAsync();
    }

    private static readonly int[] BudgetThresholds = [80, 100];

    /// <summary>The calendar month of <paramref name="at"/> in the DAG's time zone (<c>yyyy-MM</c>) and its bounds as instants.</summary>
    private (string Month, DateTimeOffset Start, DateTimeOffset End) BudgetMonthOf(DateTimeOffset at)
    {
        var zone = Zone();
        var local = TimeZoneInfo.ConvertTime(at, zone);
        var first = new DateTime(local.Year, local.Month, 1, 0, 0, 0, DateTimeKind.Unspecified);
        return (first.ToString("yyyy-MM", CultureInfo.InvariantCulture), Instant(first, zone), Instant(first.AddMonths(1), zone));
    }

    /// <summary>A wall-clock time of the zone as an instant (midnight on the 1st is never skipped by a DST change in practice; if it were, the later offset).</summary>
    private static DateTimeOffset Instant(DateTime wall, TimeZoneInfo zone) =>
        new(wall, zone.IsInvalidTime(wall) ? zone.GetUtcOffset(wall.AddHours(1)) : zone.GetUtcOffset(wall));

    private TimeZoneInfo Zone()
    {
        try
        {
            return TimeZoneInfo.FindSystemTimeZoneById(S.Definition?.Timezone ?? "UTC");
        }
        catch (Exception ex) when (ex is TimeZoneNotFoundException or InvalidTimeZoneException)
        {
            return TimeZoneInfo.Utc;
        }
    }

    private NotificationRequest BudgetNotification(string month, int threshold, decimal spent, BudgetSettings budget, ImmutableArray<string> notifiers, bool pause, DateTimeOffset now)
    {
        var usd = spent.ToString("0.00", CultureInfo.InvariantCulture);
        var limit = budget.MonthlyUsd.ToString("0.##", CultureInfo.InvariantCulture);
        var text = threshold >= 100
            ? $"Batchyard: {DagId} has spent ${usd} in {month}, over its monthly budget of ${limit}" + (pause ? "; its schedule is paused" : "")
            : $"Batchyard: {DagId} has spent ${usd} in {month}, {threshold} % of its monthly budget of ${limit}";
        return new NotificationRequest
        {
            EventId = $"{DagId}/{month}/on_budget/{threshold}",
            Event = NotifyEvents.OnBudget,
            DagId = DagId,
            Notifiers = notifiers,
            Text = text,
            At = now,
            Facts = ImmutableDictionary<string, string>.Empty
                .Add("month", $"\"{month}\"")
                .Add("threshold_percent", threshold.ToString(CultureInfo.InvariantCulture))
                .Add("spent_usd", spent.ToString(CultureInfo.InvariantCulture))
                .Add("monthly_usd", budget.MonthlyUsd.ToString(CultureInfo.InvariantCulture))
                .Add("paused", pause ? "true" : "false"),
        };
    }

    private void ReportSoon()
    {
        var summary = DagSummary.From(Info());
        if (!summary.Equals(_reported))
        {
            Registry.UpsertAsync(summary).Ignore();
            _reported = summary;
        }
    }

    public Task<DateTimeOffset?> GetNextFireAsync() => Task.FromResult(NextFire());

    public Task<DagSummary?> GetSummaryAsync() => Task.FromResult(Exists ? DagSummary.From(Info()) : null);

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (reminderName == ScheduleReminder)
        {
            // Written by an earlier version: the DAG's shard takes over.
            if (await this.GetReminder(ScheduleReminder) is { } legacy)
            {
                await this.UnregisterReminder(legacy);
            }
            var created = await EvaluateScheduleAsync();
            if (created.Length > 0)
            {
                LogScheduled(DagId, created.Length, created[^1]);
            }
        }
    }

    private async Task<RunDetails?> CreateRunAsync(DagDefinition definition, string runId, DateTimeOffset logicalDate, ImmutableDictionary<string, string> parameters, string runType, string? triggeredBy, DateTimeOffset? firedSlot = null, ImmutableArray<Batchyard.Datasets.DatasetUpdate> triggering = default, DateTimeOffset? startAt = null)
    {
        // The active and queued runs are what the runs told this grain: each run tells of every state change
        // and repeats it from its own reminder until it is heard, so nothing here needs checking against them.
        var ownAdmission = runType == BackfillRunType;
        var startNow = ownAdmission || (S.ActiveRuns.Count < definition.MaxActiveRuns && S.QueuedRuns.Count == 0);

        var run = await RunGrain(runId).CreateAsync(new RunStart
        {
            Dag = definition,
            RunId = runId,
            LogicalDate = logicalDate,
            Params = parameters,
            RunType = runType,
            StartNow = startNow,
            TriggeredBy = triggeredBy,
            TriggeringDatasets = triggering.IsDefault ? [] : triggering,
            StartAt = startAt,
        });
        var existed = run is null;
        // Tracked once it exists: a crash before this write loses nothing, since the run tells of itself.
        switch (ownAdmission ? null : (run ?? await RunGrain(runId).GetAsync())?.State)
        {
            case RunState.Running:
            // Made ahead of its slot and admitted: it holds its place under max_active_runs until it begins.
            case RunState.Queued when run is not null && startNow && startAt is not null:
                S.ActiveRuns.Add(runId);
                break;
            case RunState.Queued when !S.ActiveRuns.Contains(runId) && !S.QueuedRuns.Contains(runId):
                S.QueuedRuns.Add(runId);
                break;
        }
        if (firedSlot is { } slot)
        {
            // Only once the slot's run exists: a crash before this write fires the slot again, which finds it.
            S.LastSlot = slot;
        }
        else if (run is not null && (S.LastSlot is not { } last || logicalDate > last) && Cron()?.NextAfter(logicalDate.AddTicks(-1)) == logicalDate)
        {
            // A slot the schedule has still to reach: it finds this run then, without reading the history.
            S.SlotRuns[logicalDate] = runId;
        }
        if (!triggering.IsDefaultOrEmpty)
        {
            // Consumed in the write that tracks the run, only once it exists: a crash before this write hears
            // the updates again and finds the run by its id.
            MarkConsumed(triggering);
        }
        await store.WriteStateAsync();
        if (existed)
        {
            await AdmitQueuedRunsAsync();
            return null;
        }
        return run;
    }

    private async Task AdmitQueuedRunsAsync()
    {
        var limit = S.Definition?.MaxActiveRuns ?? int.MaxValue;
        while (S.QueuedRuns.Count > 0 && S.ActiveRuns.Count < limit)
        {
            var runId = S.QueuedRuns[0];
            S.QueuedRuns.RemoveAt(0);
            S.ActiveRuns.Add(runId);
            await store.WriteStateAsync();
            await RunGrain(runId).BeginAsync();
        }
    }

    /// <summary>
    /// Paused or deleted before the slot it made ahead (<see cref="SchedulingOptions.Lead"/>): that slot's run is
    /// cancelled, as no run would have been made for it. Only the newest slot can be ahead; a manual or backfill
    /// run of that date is not one made ahead, and the run refuses.
    /// </summary>
    private async Task WithdrawAheadAsync()
    {
        if (S.LastSlot is { } slot && slot > time.GetUtcNow())
        {
            var runId = "scheduled__" + Stamp(slot);
            if (await RunGrain(runId).WithdrawAsync())
            {
                LogWithdrawn(DagId, runId);
            }
        }
    }

    /// <summary>Equal definitions: the same bytes in Orleans' format (records holding arrays compare by reference).</summary>
    private bool Same(DagDefinition a, DagDefinition b) =>
        a.Version == b.Version && serializer.SerializeToArray(a).AsSpan().SequenceEqual(serializer.SerializeToArray(b));

    /// <summary>Tells the DAG's schedule shard when to fire next (nothing when it should not).</summary>
    private Task ArmScheduleAsync() => Shard().SetNextAsync(DagId, NextFire());

    private Task DisarmScheduleAsync() => Shard().SetNextAsync(DagId, null);

    /// <summary>
    /// The next slot to evaluate at: the one after the newest fired slot. It is in the past when slots were
    /// missed (the silo was down, the DAG was re-applied after a restart): then it fires at once, and the
    /// evaluation applies the DAG's catchup rule.
    /// </summary>
    private DateTimeOffset? NextFire()
    {
        if (S.Paused || S.Deleted || Cron() is not { } cron || cron.NextAfter(S.LastSlot ?? time.GetUtcNow()) is not { } next)
        {
            return null;
        }
        // The lead before the slot, but never before the slot fired last has come (made ahead, it is in the future).
        var at = next - scheduling.Value.Lead;
        return S.LastSlot is { } last && last > at ? last : at;
    }

    private IScheduleShardGrain Shard() => GrainFactory.GetGrain<IScheduleShardGrain>(ScheduleShards.Of(DagId, scheduling.Value.Shards));

    private CronSchedule? Cron() =>
        S.Definition is { Schedule: { } schedule } definition ? CronSchedule.TryParse(schedule, definition.Timezone, out _) : null;

    private bool Exists => !S.Deleted && (S.Definition is not null || !S.LoadErrors.IsEmpty);

    private DagDefinition RequireDefinition() =>
        S.Deleted || S.Definition is null ? throw new KeyNotFoundException($"DAG {DagId} does not exist") : S.Definition;

    /// <summary>Sends this DAG's list row to the registry when it differs from the one last sent.</summary>
    private async Task ReportAsync()
    {
        var summary = DagSummary.From(Info());
        if (!summary.Equals(_reported))
        {
            await Registry.UpsertAsync(summary);
            _reported = summary;
        }
    }

    private IDagRegistryGrain Registry => GrainFactory.GetGrain<IDagRegistryGrain>(0);

    private IDagRunGrain RunGrain(string runId) => GrainFactory.GetGrain<IDagRunGrain>(RunKeys.Run(DagId, runId));

    private DagInfo Info()
    {
        var cron = Cron();
        DateTimeOffset? next = S.Paused || cron is null ? null : cron.NextAfter(Later(S.LastSlot, time.GetUtcNow()));
        return new DagInfo
        {
            DagId = DagId,
            Paused = S.Paused,
            Definition = S.Definition,
            NextRunAt = next,
            LastRunState = S.RecentRuns.Count > 0 ? S.RecentRuns[0].State : null,
            RecentRuns = [.. S.RecentRuns],
            LoadErrors = S.LoadErrors,
            UpdatedAt = S.UpdatedAt,
            ActiveRuns = S.ActiveRuns.Count,
            QueuedRuns = S.QueuedRuns.Count,
            Deleted = S.Deleted,
            Budget = S.Definition?.Budget is { } budget ? new BudgetStatus
            {
                MonthlyUsd = budget.MonthlyUsd,
                PauseOnExceed = budget.PauseOnExceed,
                Month = BudgetMonthOf(time.GetUtcNow()).Month,
                SpentUsd = S.BudgetMonth == BudgetMonthOf(time.GetUtcNow()).Month ? S.BudgetSpentUsd : 0m,
                Notified = S.BudgetMonth == BudgetMonthOf(time.GetUtcNow()).Month ? [.. S.BudgetNotified] : [],
                PausedByBudget = S.BudgetPaused && S.Paused,
                CheckedAt = S.BudgetCheckedAt,
            } : null,
            PendingDatasets = [.. S.DatasetPending.Values.OrderBy(u => u.Dataset, StringComparer.Ordinal)],
        };
    }

    private static DateTimeOffset Later(DateTimeOffset? a, DateTimeOffset b) => a is { } x && x > b ? x : b;

    internal static string Stamp(DateTimeOffset at) =>
        at.UtcDateTime.ToString(at.Millisecond == 0 ? "yyyy-MM-ddTHH:mm:ssZ" : "yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture);

    [LoggerMessage(Level = LogLevel.Information, Message = "{DagId}: applied version {Version}")]
    private partial void LogApplied(string dagId, string version);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{DagId}: a new file was refused ({Count} problem(s)); the last good version keeps running")]
    private partial void LogRefused(string dagId, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{DagId}: {Threshold} % of the budget passed: ${Spent} of ${Monthly} in {Month}")]
    private partial void LogBudgetPassed(string dagId, int threshold, decimal spent, decimal monthly, string month);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{DagId}: the month's cost could not be summed for its budget ({Error}); the next run's end tries again")]
    private partial void LogBudgetUnknown(string dagId, string error);
    [LoggerMessage(Level = LogLevel.Information, Message = "{DagId}: backfill {BackfillId} of {Total} slot(s) created")]
    private partial void LogBackfill(string dagId, string backfillId, int total);

    [LoggerMessage(Level = LogLevel.Information, Message = "{DagId}: run {RunId}, made ahead of its slot, withdrawn (the DAG was paused or deleted before it)")]
    private partial void LogWithdrawn(string dagId, string runId);

    [LoggerMessage(Level = LogLevel.Information, Message = "{DagId}: deleted")]
    private partial void LogDeleted(string dagId);

    [LoggerMessage(Level = LogLevel.Information, Message = "{DagId}: scheduled {Count} run(s), newest {RunId}")]
    private partial void LogScheduled(string dagId, int count, string runId);
}
