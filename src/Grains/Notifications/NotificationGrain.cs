using System.Collections.Immutable;
using Batchyard.Grains;
using Microsoft.Extensions.Logging;

namespace Batchyard.Notifications;

/// <summary>What a notification grain persists: the request as taken and one delivery per notifier.</summary>
[GenerateSerializer]
public sealed class NotificationState
{
    [Id(0)] public NotificationRequest? Request { get; set; }
    [Id(1)] public DateTimeOffset AcceptedAt { get; set; }
    [Id(2)] public List<NotifierDelivery> Deliveries { get; set; } = [];
}

/// <summary>
/// One notification, keyed by its event id: taken once (durably, with a reminder, before <see cref="SendAsync"/>
/// returns), then delivered to each notifier on its own, retried with doubling waits until it answers 2xx, refuses
/// for good, or <see cref="NotificationOptions.GiveUpAfter"/> has passed. Short waits ride a grain timer; the
/// reminder outlives the silo, so a survivor resumes delivery. Receivers may see a repeat (at least once) and
/// tell it by <c>X-Batchyard-Event-Id</c>.
/// </summary>
public sealed partial class NotificationGrain(
    [PersistentState("notification", StorageNames.Batchyard)] IPersistentState<NotificationState> store,
    NotificationSender sender,
    NotificationOptions options,
    TimeProvider time,
    ILogger<NotificationGrain> logger) : Grain, INotificationGrain, IRemindable
{
    /// <summary>The durable wake-up while any notifier is still pending.</summary>
    public const string RetryReminder = "deliver";

    private IGrainTimer? _timer;
    private DateTimeOffset? _timerAt;
    private bool _delivering;

    private NotificationState S => store.State;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        ArmTimer();
        return Task.CompletedTask;
    }

    public async Task SendAsync(NotificationRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (S.Request is not null)
        {
            // Taken already: the same fact handed over again (a retried call, a resumed run) changes nothing.
            await EnsureReminderAsync();
            return;
        }
        if (request.EventId != this.GetPrimaryKeyString())
        {
            throw new ArgumentException($"request for event '{request.EventId}' sent to notification '{this.GetPrimaryKeyString()}'", nameof(request));
        }
        var now = time.GetUtcNow();
        S.Request = request;
        S.AcceptedAt = now;
        S.Deliveries = [.. request.Notifiers.Distinct(StringComparer.Ordinal).Select(n => new NotifierDelivery { Notifier = n, State = DeliveryState.Pending, NextAttemptAt = now })];
        await store.WriteStateAsync();
        await EnsureReminderAsync();
        ArmTimer();
    }

    public Task<NotificationStatus?> GetStatusAsync() => Task.FromResult(S.Request is { } request
        ? new NotificationStatus { Request = request, AcceptedAt = S.AcceptedAt, Deliveries = [.. S.Deliveries] }
        : null);

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (reminderName != RetryReminder)
        {
            return;
        }
        if (!Pending().Any())
        {
            await DropReminderAsync();
            return;
        }
        ArmTimer();
    }

    private IEnumerable<NotifierDelivery> Pending() => S.Deliveries.Where(d => d.State == DeliveryState.Pending);

    /// <summary>Arms the in-memory timer for the earliest pending delivery (at once if it is due).</summary>
    private void ArmTimer()
    {
        // A delivery in flight re-arms the timer itself when it is done.
        if (S.Request is null || _delivering || !Pending().Any())
        {
            return;
        }
        var at = Pending().Min(d => d.NextAttemptAt ?? S.AcceptedAt);
        if (_timer is not null && _timerAt <= at)
        {
            return;
        }
        _timer?.Dispose();
        _timerAt = at;
        var due = at - time.GetUtcNow();
        _timer = this.RegisterGrainTimer(DeliverDueAsync, new GrainTimerCreationOptions(due < TimeSpan.Zero ? TimeSpan.Zero : due, Timeout.InfiniteTimeSpan) { Interleave = true });
    }

    /// <summary>One attempt for every notifier that is due, all at once; their outcomes are written in one state write.</summary>
    private async Task DeliverDueAsync(CancellationToken cancellationToken)
    {
        // Disposing a timer cancels the token of its running callback: this one-shot timer is disposed once done.
        var fired = _timer;
        (_timer, _timerAt, _delivering) = (null, null, true);
        try
        {
            var request = S.Request!;
            var now = time.GetUtcNow();
            var due = S.Deliveries.Select((d, i) => (Delivery: d, Index: i)).Where(x => x.Delivery.State == DeliveryState.Pending && (x.Delivery.NextAttemptAt ?? now) <= now).ToList();
            if (due.Count > 0)
            {
                var outcomes = await Task.WhenAll(due.Select(x => sender.SendAsync(x.Delivery.Notifier, request, cancellationToken)));
                var ended = time.GetUtcNow();
                for (var k = 0; k < due.Count; k++)
                {
                    S.Deliveries[due[k].Index] = Next(due[k].Delivery, outcomes[k].Outcome, outcomes[k].Error, ended);
                }
                await store.WriteStateAsync();
            }
        }
        finally
        {
            _delivering = false;
            fired?.Dispose();
        }
        if (Pending().Any())
        {
            ArmTimer();
        }
        else
        {
            await DropReminderAsync();
        }
    }

    private NotifierDelivery Next(NotifierDelivery delivery, SendOutcome outcome, string? error, DateTimeOffset now)
    {
        var request = S.Request!;
        var attempts = delivery.Attempts + 1;
        switch (outcome)
        {
            case SendOutcome.Delivered:
                LogDelivered(request.EventId, delivery.Notifier, attempts);
                return delivery with { State = DeliveryState.Delivered, Attempts = attempts, DeliveredAt = now, NextAttemptAt = null };
            case SendOutcome.Permanent:
                LogFailed(request.EventId, delivery.Notifier, attempts, error ?? "");
                return delivery with { State = DeliveryState.Failed, Attempts = attempts, LastError = error, NextAttemptAt = null };
        }
        var next = now + options.DelayAfter(attempts);
        if (next - S.AcceptedAt > options.GiveUpAfter)
        {
            var gaveUp = $"{error} (gave up after {attempts} attempts over {options.GiveUpAfter})";
            LogFailed(request.EventId, delivery.Notifier, attempts, gaveUp);
            return delivery with { State = DeliveryState.Failed, Attempts = attempts, LastError = gaveUp, NextAttemptAt = null };
        }
        LogRetrying(request.EventId, delivery.Notifier, attempts, error ?? "", next - now);
        return delivery with { Attempts = attempts, LastError = error, NextAttemptAt = next };
    }

    private async Task EnsureReminderAsync()
    {
        if (Pending().Any())
        {
            await this.RegisterOrUpdateReminder(RetryReminder, options.ReminderPeriod, options.ReminderPeriod);
        }
    }

    private async Task DropReminderAsync()
    {
        if (await this.GetReminder(RetryReminder) is { } reminder)
        {
            await this.UnregisterReminder(reminder);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Notification {EventId}: delivered to '{Notifier}' (attempt {Attempts})")]
    private partial void LogDelivered(string eventId, string notifier, int attempts);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Notification {EventId}: '{Notifier}' failed attempt {Attempts} ({Error}); trying again in {Delay}")]
    private partial void LogRetrying(string eventId, string notifier, int attempts, string error, TimeSpan delay);

    [LoggerMessage(Level = LogLevel.Error, Message = "Notification {EventId}: gave up on '{Notifier}' after {Attempts} attempts: {Error}")]
    private partial void LogFailed(string eventId, string notifier, int attempts, string error);
}
