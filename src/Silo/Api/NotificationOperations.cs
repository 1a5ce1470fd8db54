using Batchyard.Access;
using Batchyard.Grains;

namespace Batchyard.Silo.Api;

/// <summary>One notification's delivery to one notifier, as <c>GET …/runs/{runId}/notifications</c> lists it.</summary>
public sealed record NotificationDeliveryView
{
    public required string Event { get; init; }
    public required string EventId { get; init; }
    public string? TaskId { get; init; }
    /// <summary>Null while the run has not handed the notification to its grain yet.</summary>
    public string? Notifier { get; init; }
    public DeliveryState State { get; init; }
    public int Attempts { get; init; }
    public string? LastError { get; init; }
    public DateTimeOffset? DeliveredAt { get; init; }
    public DateTimeOffset? NextAttemptAt { get; init; }
}

/// <summary>Notifications: how a run's were delivered, read with the role of reading the run.</summary>
public sealed partial class ApiOperations
{
    /// <summary>Every notification of the run (in the order they arose), one entry per notifier.</summary>
    public Task<Outcome<Page<NotificationDeliveryView>>> ListRunNotificationsAsync(Caller caller, string dagId, string runId, CancellationToken cancellationToken = default) =>
        Read<Outcome<Page<NotificationDeliveryView>>>(async () =>
        {
            if (await HiddenAsync(caller, dagId, cancellationToken) is { } hidden)
            {
                return hidden;
            }
            if (await Run(dagId, runId).GetAsync() is null)
            {
                return RunNotFound(dagId, runId);
            }
            var ids = await grains.GetGrain<IRunNotificationsGrain>(RunKeys.Run(dagId, runId)).GetNotificationIdsAsync();
            var statuses = await Task.WhenAll(ids.Select(id => grains.GetGrain<INotificationGrain>(id).GetStatusAsync()));
            var rows = ids.Zip(statuses).SelectMany(pair => pair.Second is { } status
                ? status.Deliveries.Select(d => new NotificationDeliveryView
                {
                    Event = status.Request.Event,
                    EventId = pair.First,
                    TaskId = status.Request.TaskId,
                    Notifier = d.Notifier,
                    State = d.State,
                    Attempts = d.Attempts,
                    LastError = d.LastError,
                    DeliveredAt = d.DeliveredAt,
                    NextAttemptAt = d.NextAttemptAt,
                })
                : [new NotificationDeliveryView { Event = EventOf(pair.First), EventId = pair.First, State = DeliveryState.Pending, LastError = "not handed over yet" }]).ToList();
            return new Page<NotificationDeliveryView>([.. rows], null, rows.Count);
        }, cancellationToken);

    /// <summary>The event of an event id (<c>…/on_failure</c>, <c>…/on_failure/2</c>, <c>…/{task}/{attempt}/on_retry</c>).</summary>
    private static string EventOf(string eventId) =>
        eventId.Split('/').LastOrDefault(part => part.StartsWith("on_", StringComparison.Ordinal)) ?? "";
}
