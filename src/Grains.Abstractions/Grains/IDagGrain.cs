using System.Collections.Immutable;
using Batchyard.Dags;
using Batchyard.Runs;
using Orleans.Concurrency;

namespace Batchyard.Grains;

/// <summary>One DAG, keyed by its id: its current version, pause state, cron schedule and run admission.</summary>
public interface IDagGrain : IGrainWithStringKey
{
    /// <summary>Creates or replaces the DAG with a validated version and re-arms its schedule.</summary>
    Task<DagInfo> ApplyAsync(DagDefinition definition);

    /// <summary>Records why a newer file for this DAG was refused; the current version keeps running.</summary>
    Task RecordRefusedAsync(ImmutableArray<string> problems);

    /// <summary>Removes the DAG: its schedule stops and queued runs are dropped; history stays readable.</summary>
    Task DeleteAsync();

    /// <summary>The DAG's current state, or null when it does not exist (a read: it never waits behind a write).</summary>
    [AlwaysInterleave]
    Task<DagInfo?> GetAsync();

    /// <summary>Stops (true) or resumes (false) the schedule.</summary>
    Task<DagInfo> SetPausedAsync(bool paused);

    /// <summary>Starts a manual run (queued when <c>max_active_runs</c> is reached).</summary>
    Task<RunDetails> TriggerAsync(TriggerRequest request);

    /// <summary>Fires every cron slot that is due at the current time, then re-arms the reminder; returns the run ids created.</summary>
    Task<ImmutableArray<string>> EvaluateScheduleAsync();

    /// <summary>The next scheduled slots from now (for the API and dashboard).</summary>
    [AlwaysInterleave]
    Task<ImmutableArray<DateTimeOffset>> GetNextSlotsAsync(int count);

    /// <summary>
    /// When its schedule should next be evaluated: the slot after the newest one fired (earlier than now when
    /// slots were missed), or null when it has no schedule, is paused or deleted. Its schedule shard asks
    /// (a read: it never waits behind a write, nor a write behind the shard).
    /// </summary>
    [AlwaysInterleave]
    Task<DateTimeOffset?> GetNextFireAsync();

    /// <summary>A run of this DAG changed state; called by the run grain, which repeats it until this call succeeds.</summary>
    Task OnRunChangedAsync(RunSummary run);

    /// <summary>
    /// A dataset this DAG consumes was updated; called by the dataset grain, which repeats it until this call
    /// succeeds. Starts a <c>dataset</c> run once every consumed dataset has an unconsumed update.
    /// </summary>
    Task OnDatasetUpdatedAsync(Batchyard.Datasets.DatasetUpdate update);
    /// <summary>Creates a backfill of the DAG's cron slots in a range (ArgumentException: why it cannot); its runs are made in the background.</summary>
    Task<BackfillInfo> CreateBackfillAsync(BackfillRequest request);

    /// <summary>The DAG's backfill ids, newest first.</summary>
    [AlwaysInterleave]
    Task<ImmutableArray<string>> ListBackfillsAsync();

    /// <summary>
    /// A backfill's slot: makes its run unless the slot has one (whatever made it), else says whether the backfill
    /// reprocesses that run. Serialised with the schedule, so a slot never gets two runs.
    /// </summary>
    Task<SlotClaim> ClaimSlotAsync(string backfillId, DateTimeOffset slot, BackfillReprocess reprocess);

    /// <summary>The DAG as a list shows it, or null when it does not exist (a read: it never waits behind a write).</summary>
    [AlwaysInterleave]
    Task<DagSummary?> GetSummaryAsync();
}

/// <summary>
/// The known DAGs (a single grain, key 0): their ids, durably, and each DAG's list row as its DAG grain last
/// reported it, in memory, so that lists, filters and counts are answered without calling every DAG grain.
/// </summary>
public interface IDagRegistryGrain : IGrainWithIntegerKey
{
    /// <summary>Adds a DAG or replaces its row; called by the DAG grain whenever its row changes.</summary>
    Task UpsertAsync(DagSummary summary);

    /// <summary>Removes a DAG id.</summary>
    Task RemoveAsync(string dagId);

    /// <summary>All DAG ids, sorted.</summary>
    [AlwaysInterleave]
    Task<ImmutableArray<string>> ListAsync();

    /// <summary>A page of the DAGs matching <paramref name="query"/>, by id, with counts.</summary>
    [AlwaysInterleave]
    Task<DagPage> QueryAsync(DagQuery query);

    /// <summary>Every tag and owner with its number of DAGs.</summary>
    [AlwaysInterleave]
    Task<DagFacets> GetFacetsAsync(ImmutableArray<string> visibleTags);
}

/// <summary>
/// Fires the cron slots of the DAGs of one shard (integer key 0…shards−1) from an in-memory timer at the exact
/// instant; its DAGs tell it their next slot.
/// </summary>
public interface IScheduleShardGrain : IGrainWithIntegerKey
{
    /// <summary>The DAG's next slot (null: none, it stopped being scheduled).</summary>
    Task SetNextAsync(string dagId, DateTimeOffset? next);

    /// <summary>Fires every DAG whose slot has come (its timer calls this).</summary>
    Task FireDueAsync();

    /// <summary>How many scheduled DAGs the shard follows.</summary>
    Task<int> CountAsync();
}
