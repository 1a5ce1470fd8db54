using Microsoft.Extensions.Configuration;

namespace Batchyard.Notifications;

/// <summary>
/// How notifications are delivered (<c>Batchyard:Notifications:*</c>): the wait after a failed attempt starts at
/// <see cref="FirstRetryDelay"/> and doubles up to <see cref="MaxRetryDelay"/>; a notifier that has not answered
/// 2xx <see cref="GiveUpAfter"/> after the notification was taken is marked failed. <see cref="ReminderPeriod"/>
/// is how often the durable reminder re-activates an undelivered notification after a silo died.
/// </summary>
public sealed record NotificationOptions
{
    public TimeSpan FirstRetryDelay { get; init; } = TimeSpan.FromSeconds(2);
    public TimeSpan MaxRetryDelay { get; init; } = TimeSpan.FromMinutes(10);
    public TimeSpan GiveUpAfter { get; init; } = TimeSpan.FromHours(24);
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(10);
    public TimeSpan ReminderPeriod { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>The wait before attempt <paramref name="attempts"/> + 1, after <paramref name="attempts"/> failed ones.</summary>
    public TimeSpan DelayAfter(int attempts)
    {
        var delay = FirstRetryDelay.TotalMilliseconds * Math.Pow(2, Math.Max(0, attempts - 1));
        return delay >= MaxRetryDelay.TotalMilliseconds ? MaxRetryDelay : TimeSpan.FromMilliseconds(delay);
    }

    public static NotificationOptions From(IConfiguration? configuration)
    {
        var options = configuration?.GetSection("Batchyard:Notifications").Get<NotificationOptions>() ?? new NotificationOptions();
        if (options.FirstRetryDelay <= TimeSpan.Zero || options.MaxRetryDelay < options.FirstRetryDelay || options.GiveUpAfter <= TimeSpan.Zero
            || options.RequestTimeout <= TimeSpan.Zero || options.ReminderPeriod <= TimeSpan.Zero)
        {
            throw new InvalidOperationException(
                "Batchyard:Notifications: FirstRetryDelay, GiveUpAfter, RequestTimeout and ReminderPeriod must be positive and MaxRetryDelay at least FirstRetryDelay");
        }
        return options;
    }
}
