using System.Collections.Concurrent;
using Batchyard.Grains;

namespace Batchyard.Tests.Runs;

/// <summary>
/// A stand-in for the notification grain in this test silo: it records every request it takes (by event id) and
/// can refuse the first ones, as a notification grain that is not there yet would. Delete it once the real
/// NotificationGrain is in src/Grains (two implementations of one grain interface are ambiguous to Orleans).
/// </summary>
public sealed class RecordingNotificationGrain : Grain, INotificationGrain
{
    /// <summary>Every request taken, in order, whatever its grain.</summary>
    public static ConcurrentQueue<NotificationRequest> Taken { get; } = new();

    /// <summary>Event ids whose next sends are refused, and how many of them.</summary>
    public static ConcurrentDictionary<string, int> Refuse { get; } = new(StringComparer.Ordinal);

    public Task SendAsync(NotificationRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (Refuse.TryGetValue(request.EventId, out var left) && left > 0)
        {
            Refuse[request.EventId] = left - 1;
            throw new InvalidOperationException($"refused {request.EventId}");
        }
        Taken.Enqueue(request);
        return Task.CompletedTask;
    }

    public static List<NotificationRequest> For(string dagId) => [.. Taken.Where(r => r.DagId == dagId)];
}
