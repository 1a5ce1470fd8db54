using System.Collections.Immutable;
using Batchyard.Backends;
using Batchyard.Grains;
using Microsoft.Extensions.Logging;
using Orleans.Concurrency;

namespace Batchyard.Runs;

/// <summary>An ended attempt whose job still holds something billed, handed over by its supervisor before the end is reported.</summary>
[GenerateSerializer, Immutable]
public sealed record AfterEndOrder
{
    [Id(0)] public required JobRef Job { get; init; }
    /// <summary>The job's own start and end, as its final status gave them (what the attempt's cost was worked out from).</summary>
    [Id(1)] public DateTimeOffset? StartedAt { get; init; }
    [Id(2)] public DateTimeOffset? EndedAt { get; init; }
    /// <summary>The details of the attempt's final status: the attempt is priced again from these with what follows merged in.</summary>
    [Id(3)] public ImmutableDictionary<string, string> Details { get; init; } = ImmutableDictionary<string, string>.Empty;
}

/// <summary>What an attempt's job held after its end, once settled: details to merge into the attempt, and its cost worked out again.</summary>
[GenerateSerializer, Immutable]
public sealed record AfterEndReport
{
    [Id(0)] public required string TaskId { get; init; }
    [Id(1)] public int? MapIndex { get; init; }
    [Id(2)] public int Attempt { get; init; }
    [Id(3)] public ImmutableDictionary<string, string> Details { get; init; } = ImmutableDictionary<string, string>.Empty;
    [Id(4)] public AttemptCost? Cost { get; init; }
}

/// <summary>
/// Follows what outlives one attempt's job (a SageMaker training job's warm pool), keyed by the job name. Durable:
/// its order is written before the supervisor reports the attempt's end, so a silo crash loses no pool, and a
/// reminder brings it back on a survivor. Once its backend says the pool has settled (reused or terminated), it
/// tells the run, which adds the facts to the attempt and re-prices it, and forgets the order.
/// </summary>
public interface IAfterEndGrain : IGrainWithStringKey
{
    /// <summary>Takes the order (again: a repeat changes nothing) and follows it until it settles.</summary>
    Task FollowAsync(AfterEndOrder order);

    /// <summary>The order being followed, or null when there is none (never taken, or settled and told).</summary>
    Task<AfterEndOrder?> GetAsync();

    /// <summary>Its timer: the next read is due.</summary>
    [OneWay]
    Task OnDueAsync();
}

[GenerateSerializer]
public sealed class AfterEndState
{
    [Id(0)] public AfterEndOrder? Order { get; set; }
    [Id(1)] public DateTimeOffset AcceptedAt { get; set; }
    /// <summary>The facts read so far (merged into the order's details when it is told).</summary>
    [Id(2)] public ImmutableDictionary<string, string> Read { get; set; } = ImmutableDictionary<string, string>.Empty;
}

public sealed partial class AfterEndGrain(
    [PersistentState("afterEnd", StorageNames.Batchyard)] IPersistentState<AfterEndState> store,
    BackendCatalog backends,
    Batchyard.Costs.AttemptCosts costs,
    Microsoft.Extensions.Options.IOptions<WakeOptions> wake,
    [Microsoft.Extensions.DependencyInjection.FromKeyedServices(BatchyardClock.Key)] TimeProvider time,
    ILogger<AfterEndGrain> logger) : Grain, IAfterEndGrain, IRemindable
{
    /// <summary>The durable wake-up while an order is followed.</summary>
    public const string Reminder = "after-end";

    /// <summary>The attempt detail saying that what followed its job's end was told before it settled.</summary>
    public const string UnsettledKey = "afterEndUnsettled";

    /// <summary>
    /// After this long an order is told as it stands (with its pool's status unknown): a warm pool lives an hour at
    /// most after its job, so a pool still not settled by then cannot be read (its backend is gone from every silo).
    /// </summary>
    public static readonly TimeSpan GiveUpAfter = TimeSpan.FromHours(3);

    private static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(15);

    private readonly CancellationTokenSource _life = new();
    private ClockTimer? _timer;

    private AfterEndState S => store.State;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (S.Order is not null)
        {
            Arm(time.GetUtcNow());
        }
        return Task.CompletedTask;
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        _life.Cancel();
        return Task.CompletedTask;
    }

    public async Task FollowAsync(AfterEndOrder order)
    {
        ArgumentNullException.ThrowIfNull(order);
        if (order.Job.JobName != this.GetPrimaryKeyString())
        {
            throw new ArgumentException($"order for job '{order.Job.JobName}' sent to '{this.GetPrimaryKeyString()}'", nameof(order));
        }
        if (S.Order is null)
        {
            S.Order = order;
            S.AcceptedAt = time.GetUtcNow();
            S.Read = ImmutableDictionary<string, string>.Empty;
            await store.WriteStateAsync();
            LogFollowing(order.Job.DagId, order.Job.RunId, order.Job.TaskId, order.Job.Attempt, order.Job.JobName);
        }
        await this.RegisterOrUpdateReminder(Reminder, wake.Value.WakePeriod, wake.Value.WakePeriod);
        Arm(time.GetUtcNow());
    }

    public Task<AfterEndOrder?> GetAsync() => Task.FromResult(S.Order);

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (reminderName != Reminder)
        {
            return;
        }
        if (S.Order is null)
        {
            await DropReminderAsync();
            return;
        }
        Arm(time.GetUtcNow());
    }

    public async Task OnDueAsync()
    {
        if (S.Order is { } order)
        {
            await ReadAsync(order);
        }
    }

    private async Task ReadAsync(AfterEndOrder order)
    {
        var job = order.Job;
        var now = time.GetUtcNow();
        var givenUp = now - S.AcceptedAt > GiveUpAfter;
        AfterEndReading reading;
        if (givenUp)
        {
            reading = new AfterEndReading(S.Read.SetItem(UnsettledKey, $"not settled {GiveUpAfter.TotalHours:0} h after the job's end"), Settled: true, TimeSpan.Zero);
            LogGaveUp(job.DagId, job.RunId, job.TaskId, job.Attempt, job.JobName, GiveUpAfter);
        }
        else if (backends.Find(job.Backend) is not { } backend)
        {
            Arm(now + RetryDelay);
            return;
        }
        else
        {
            try
            {
                using var bounded = CancellationTokenSource.CreateLinkedTokenSource(_life.Token);
                bounded.CancelAfter(TimeSpan.FromMinutes(2));
                reading = await backend.ReadAfterEndAsync(job, bounded.Token);
            }
            catch (Exception ex) when (!_life.IsCancellationRequested)
            {
                LogReadFailed(job.DagId, job.RunId, job.TaskId, job.Attempt, job.JobName, ex.Message);
                Arm(time.GetUtcNow() + RetryDelay);
                return;
            }
        }

        var read = S.Read.SetItems(reading.Details);
        if (!reading.Settled)
        {
            if (!JobDetails.Same(read, S.Read))
            {
                S.Read = read;
                await store.WriteStateAsync();
            }
            Arm(time.GetUtcNow() + (reading.Recheck > TimeSpan.Zero ? reading.Recheck : RetryDelay));
            return;
        }

        var merged = order.Details.SetItems(read);
        var report = new AfterEndReport
        {
            TaskId = job.TaskId,
            MapIndex = job.MapIndex,
            Attempt = job.Attempt,
            Details = read,
            Cost = costs.Of(merged, order.StartedAt, order.EndedAt),
        };
        bool told;
        try
        {
            told = await GrainFactory.GetGrain<IRunCallbacks>(RunKeys.Run(job.DagId, job.RunId)).OnAfterEndAsync(report);
        }
        catch (Exception ex) when (!_life.IsCancellationRequested)
        {
            LogTellFailed(job.DagId, job.RunId, job.TaskId, job.Attempt, ex.Message);
            told = false;
        }
        if (!told)
        {
            // The run has not recorded the attempt's end yet, or could not write: the same report again shortly.
            S.Read = read;
            await store.WriteStateAsync();
            Arm(time.GetUtcNow() + RetryDelay);
            return;
        }
        LogSettled(job.DagId, job.RunId, job.TaskId, job.Attempt, job.JobName, string.Join(", ", read.Select(kv => $"{kv.Key}={kv.Value}")));
        await store.ClearStateAsync();
        await DropReminderAsync();
        DeactivateOnIdle();
    }

    private void Arm(DateTimeOffset at)
    {
        _timer ??= new ClockTimer(time, _life.Token);
        _timer.Arm(at, TimeSpan.FromHours(1), this.AsReference<IAfterEndGrain>().OnDueAsync);
    }

    private async Task DropReminderAsync()
    {
        if (await this.GetReminder(Reminder) is { } reminder)
        {
            await this.UnregisterReminder(reminder);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "{DagId}/{RunId}/{TaskId} attempt {Attempt}: following what job {JobName} holds after its end")]
    private partial void LogFollowing(string dagId, string runId, string taskId, int attempt, string jobName);

    [LoggerMessage(Level = LogLevel.Information, Message = "{DagId}/{RunId}/{TaskId} attempt {Attempt}: job {JobName} settled after its end ({Facts})")]
    private partial void LogSettled(string dagId, string runId, string taskId, int attempt, string jobName, string facts);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{DagId}/{RunId}/{TaskId} attempt {Attempt}: reading job {JobName} after its end failed: {Error}")]
    private partial void LogReadFailed(string dagId, string runId, string taskId, int attempt, string jobName, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{DagId}/{RunId}/{TaskId} attempt {Attempt}: telling the run what followed the job's end failed: {Error}")]
    private partial void LogTellFailed(string dagId, string runId, string taskId, int attempt, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{DagId}/{RunId}/{TaskId} attempt {Attempt}: job {JobName} not settled {After} after its end; told as unknown")]
    private partial void LogGaveUp(string dagId, string runId, string taskId, int attempt, string jobName, TimeSpan after);
}
