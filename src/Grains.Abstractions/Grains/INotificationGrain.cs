using System.Collections.Immutable;
using Orleans.Concurrency;

namespace Batchyard.Grains;

/// <summary>The events a DAG's <c>notify:</c> block names notifiers for.</summary>
public static class NotifyEvents
{
    public const string OnFailure = "on_failure";
    public const string OnSuccess = "on_success";
    public const string OnRetry = "on_retry";
    public const string OnLate = "on_late";
    public const string OnBudget = "on_budget";
}

/// <summary>
/// One notification to deliver: a fact (a run failed, a task is late, a budget passed 80 %) and the notifiers
/// the DAG names for it. <see cref="EventId"/> is derived from the fact alone, so the same fact handed over
/// twice (a retried call, a resumed run) is one notification; receivers see it as <c>X-Batchyard-Event-Id</c>.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record NotificationRequest
{
    /// <summary>Stable for the fact, e.g. <c>{dag}/{run}/on_failure</c>, <c>{dag}/{run}/{task}/on_late</c>, <c>{dag}/2026-12/on_budget/80</c>.</summary>
    [Id(0)] public required string EventId { get; init; }
    /// <summary>One of <see cref="NotifyEvents"/>.</summary>
    [Id(1)] public required string Event { get; init; }
    [Id(2)] public required string DagId { get; init; }
    /// <summary>The run the fact is about; null for DAG-level facts (a budget).</summary>
    [Id(3)] public string? RunId { get; init; }
    /// <summary>The task instance the fact is about, when it is about one.</summary>
    [Id(4)] public string? TaskId { get; init; }
    /// <summary>Notifier names (<c>Batchyard:Notifiers:NAME:Url</c>); each is delivered to on its own.</summary>
    [Id(5)] public ImmutableArray<string> Notifiers { get; init; } = [];
    /// <summary>The one line a person reads (Slack's <c>text</c>).</summary>
    [Id(6)] public required string Text { get; init; }
    /// <summary>More fields of the JSON body (snake_case names: <c>state</c>, <c>logical_date</c>, <c>failed_tasks</c>, <c>usd</c>…), as JSON values.</summary>
    [Id(7)] public ImmutableDictionary<string, string> Facts { get; init; } = ImmutableDictionary<string, string>.Empty;
    /// <summary>When the fact happened.</summary>
    [Id(8)] public DateTimeOffset At { get; init; }
}

/// <summary>
/// One notification, keyed by its <see cref="NotificationRequest.EventId"/>: delivered at least once to each of
/// its notifiers, retried with backoff across silo crashes until each answers 2xx or gives up.
/// </summary>
public interface INotificationGrain : IGrainWithStringKey
{
    /// <summary>Takes the notification; durable when this returns. A second call for the same event id changes nothing.</summary>
    Task SendAsync(NotificationRequest request);

    /// <summary>The notification and how each of its notifiers was delivered to; null when no request was taken.</summary>
    [AlwaysInterleave]
    Task<NotificationStatus?> GetStatusAsync();
}

/// <summary>Where delivery to one notifier stands.</summary>
public enum DeliveryState
{
    /// <summary>Not delivered yet; tried again at <see cref="NotifierDelivery.NextAttemptAt"/>.</summary>
    Pending,
    /// <summary>The notifier answered 2xx.</summary>
    Delivered,
    /// <summary>Given up: a permanent refusal (a 4xx other than 408/429, no such notifier) or retried for too long.</summary>
    Failed,
}

/// <summary>Delivery of one notification to one notifier.</summary>
[GenerateSerializer, Immutable]
public sealed record NotifierDelivery
{
    [Id(0)] public required string Notifier { get; init; }
    [Id(1)] public DeliveryState State { get; init; }
    [Id(2)] public int Attempts { get; init; }
    [Id(3)] public string? LastError { get; init; }
    [Id(4)] public DateTimeOffset? DeliveredAt { get; init; }
    [Id(5)] public DateTimeOffset? NextAttemptAt { get; init; }
}

/// <summary>A notification as its grain holds it: the request and one delivery per notifier.</summary>
[GenerateSerializer, Immutable]
public sealed record NotificationStatus
{
    [Id(0)] public required NotificationRequest Request { get; init; }
    [Id(1)] public DateTimeOffset AcceptedAt { get; init; }
    [Id(2)] public ImmutableArray<NotifierDelivery> Deliveries { get; init; } = [];
}

/// <summary>A run's side of its notifications: the event ids it handed over (or still owes), for the status API.</summary>
public interface IRunNotificationsGrain : IGrainWithStringKey
{
    /// <summary>Event ids of this run's notifications, in the order they arose.</summary>
    Task<ImmutableArray<string>> GetNotificationIdsAsync();
}
