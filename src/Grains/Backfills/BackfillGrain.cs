using System.Collections.Immutable;
using Batchyard.Grains;
using Batchyard.Runs;
using Batchyard.Scheduling;
using Microsoft.Extensions.Logging;

namespace Batchyard.Backfills;

/// <summary>What a backfill grain persists: its plan and how far it got (the slots themselves follow from the plan).</summary>
[GenerateSerializer]
public sealed class BackfillGrainState
{
    [Id(0)] public BackfillPlan? Plan { get; set; }
    /// <summary>How many slots, in the backfill's order, were handled (a run made or cleared, or skipped).</summary>
    [Id(1)] public int Next { get; set; }
    /// <summary>Its runs that have not finished.</summary>
    [Id(2)] public HashSet<string> InFlight { get; set; } = new(StringComparer.Ordinal);
    [Id(3)] public int Created { get; set; }
    [Id(4)] public int Succeeded { get; set; }
    [Id(5)] public int Failed { get; set; }
    [Id(6)] public int Skipped { get; set; }
    [Id(7)] public BackfillState State { get; set; }
    [Id(8)] public DateTimeOffset? EndedAt { get; set; }
}

/// <summary>
/// One backfill: walks its slots in order, asking the DAG grain for each slot's run (so a slot never has two),
/// with at most max_active_runs of its runs unfinished. Progress is written after every slot; a reminder picks
/// it up again after a restart, and re-claiming a slot whose write was lost finds the run it made.
/// </summary>
public sealed partial class BackfillGrain(
    [PersistentState("backfill", StorageNames.Batchyard)] IPersistentState<BackfillGrainState> store,
    [Microsoft.Extensions.DependencyInjection.FromKeyedServices(BatchyardClock.Key)] TimeProvider time,
    ILogger<BackfillGrain> logger) : Grain, IBackfillGrain, IRemindable
{
    internal const string Reminder = "backfill";
    /// <summary>Slots handled per turn: a long run of skipped slots does not hold the grain for long.</summary>
    private const int SlotsPerTurn = 100;

    private BackfillGrainState S => store.State;
    private ImmutableArray<DateTimeOffset> _slots;
    private IGrainTimer? _pump;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (S.Plan is not null && S.State == BackfillState.Running)
        {
            PumpSoon();
        }
        return Task.CompletedTask;
    }

    public async Task<BackfillInfo> StartAsync(BackfillPlan plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        if (S.Plan is null)
        {
            S.Plan = plan;
            S.State = BackfillState.Running;
            await store.WriteStateAsync();
            // The safety net: a restart, or a lost word of a run's end, resumes from here.
            await this.RegisterOrUpdateReminder(Reminder, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1));
            PumpSoon();
        }
        return Info();
    }

    public Task<BackfillInfo?> GetAsync() => Task.FromResult(S.Plan is null ? null : Info());

    public async Task<BackfillInfo> CancelAsync()
    {
        if (S.Plan is null)
        {
            throw new KeyNotFoundException($"backfill {this.GetPrimaryKeyString()} does not exist");
        }
        if (S.State == BackfillState.Running)
        {
            S.State = BackfillState.Cancelled;
            S.EndedAt = time.GetUtcNow();
            await store.WriteStateAsync();
            await StopReminderAsync();
            LogCancelled(S.Plan.DagId, S.Plan.BackfillId, S.InFlight.Count);
            // Saved cancelled first: a restart makes no more runs. The runs tell their end back through the DAG.
            await Task.WhenAll(S.InFlight.Select(runId => Run(runId).CancelAsync()));
        }
        return Info();
    }

    public async Task OnRunFinishedAsync(string runId, RunState state)
    {
        if (S.InFlight.Remove(runId))
        {
            if (state == RunState.Succeeded)
            {
                S.Succeeded++;
            }
            else
            {
                S.Failed++;
            }
            await store.WriteStateAsync();
            await PumpAsync(CancellationToken.None);
        }
    }

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (reminderName != Reminder)
        {
            return;
        }
        if (S.Plan is null || S.State != BackfillState.Running)
        {
            await StopReminderAsync();
            return;
        }
        // A run's end told through the DAG grain is not retried: ask the unfinished runs themselves.
        foreach (var runId in S.InFlight.ToList())
        {
            if (await Run(runId).GetAsync() is { } run && run.State.IsFinal())
            {
                await OnRunFinishedAsync(runId, run.State);
            }
        }
        await PumpAsync(CancellationToken.None);
    }

    private void PumpSoon()
    {
        _pump?.Dispose();
        _pump = this.RegisterGrainTimer(PumpAsync, TimeSpan.Zero, Timeout.InfiniteTimeSpan);
    }

    private async Task PumpAsync(CancellationToken cancellationToken)
    {
        if (S.Plan is not { } plan || S.State != BackfillState.Running)
        {
            return;
        }
        var slots = Slots(plan);
        var dag = GrainFactory.GetGrain<IDagGrain>(plan.DagId);
        var handled = 0;
        while (S.InFlight.Count < plan.MaxActiveRuns && S.Next < slots.Length && handled < SlotsPerTurn)
        {
            SlotClaim claim;
            try
            {
                claim = await dag.ClaimSlotAsync(plan.BackfillId, slots[S.Next], plan.Request.Reprocess);
            }
            catch (KeyNotFoundException)
            {
                // The DAG was deleted: nothing more can be made.
                S.State = BackfillState.Cancelled;
                S.EndedAt = time.GetUtcNow();
                await store.WriteStateAsync();
                await StopReminderAsync();
                return;
            }
            switch (claim.Outcome)
            {
                case SlotOutcome.Created:
                    S.InFlight.Add(claim.RunId!);
                    S.Created++;
                    break;
                case SlotOutcome.Reprocess:
                    // Cleared before progress is written: a restart in between re-claims the slot and finds the
                    // run unfinished and its own.
                    foreach (var taskId in claim.ClearTasks)
                    {
                        await Run(claim.RunId!).ClearTaskAsync(taskId);
                    }
                    S.InFlight.Add(claim.RunId!);
                    S.Created++;
                    break;
                default:
                    S.Skipped++;
                    break;
            }
            S.Next++;
            handled++;
            await store.WriteStateAsync();
        }

        if (S.Next >= slots.Length && S.InFlight.Count == 0)
        {
            S.State = S.Failed > 0 ? BackfillState.Failed : BackfillState.Succeeded;
            S.EndedAt = time.GetUtcNow();
            await store.WriteStateAsync();
            await StopReminderAsync();
            LogDone(plan.DagId, plan.BackfillId, S.State, S.Created, S.Skipped);
        }
        else if (handled == SlotsPerTurn)
        {
            PumpSoon();
        }
    }

    private ImmutableArray<DateTimeOffset> Slots(BackfillPlan plan)
    {
        if (_slots.IsDefault)
        {
            var cron = CronSchedule.TryParse(plan.Cron, plan.Timezone, out var error) ?? throw new InvalidOperationException(error);
            var all = BackfillSlots.All(cron, plan.Request.From, plan.Request.To);
            _slots = plan.Request.Backwards ? [.. all.Reverse()] : all;
        }
        return _slots;
    }

    private async Task StopReminderAsync()
    {
        if (await this.GetReminder(Reminder) is { } reminder)
        {
            await this.UnregisterReminder(reminder);
        }
    }

    private IDagRunGrain Run(string runId) => GrainFactory.GetGrain<IDagRunGrain>(RunKeys.Run(S.Plan!.DagId, runId));

    private BackfillInfo Info()
    {
        var plan = S.Plan!;
        return new BackfillInfo
        {
            BackfillId = plan.BackfillId,
            DagId = plan.DagId,
            From = plan.Request.From,
            To = plan.Request.To,
            Reprocess = plan.Request.Reprocess,
            MaxActiveRuns = plan.MaxActiveRuns,
            Backwards = plan.Request.Backwards,
            State = S.State,
            Total = plan.Total,
            Created = S.Created,
            Running = S.InFlight.Count,
            Succeeded = S.Succeeded,
            Failed = S.Failed,
            Skipped = S.Skipped,
            CreatedAt = plan.CreatedAt,
            EndedAt = S.EndedAt,
            CreatedBy = plan.Request.CreatedBy,
        };
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "{DagId}: backfill {BackfillId} cancelled with {Running} run(s) unfinished")]
    private partial void LogCancelled(string dagId, string backfillId, int running);

    [LoggerMessage(Level = LogLevel.Information, Message = "{DagId}: backfill {BackfillId} ended {State}: {Created} run(s) made or cleared, {Skipped} slot(s) skipped")]
    private partial void LogDone(string dagId, string backfillId, BackfillState state, int created, int skipped);
}
