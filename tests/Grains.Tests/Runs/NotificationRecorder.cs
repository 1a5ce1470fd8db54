using System.Collections.Concurrent;
using Batchyard.Grains;

namespace Batchyard.Tests.Runs;

/// <summary>
/// Watches hand-overs to the (real) notification grains of this test silo: records every request a grain took,
/// and can refuse the next ones of an event id, as a notification grain whose silo went away would.
/// </summary>
public sealed class NotificationRecorder : IIncomingGrainCallFilter
{
    /// <summary>Every request taken, in order, whatever its grain.</summary>
    public static ConcurrentQueue<NotificationRequest> Taken { get; } = new();

    /// <summary>Event ids whose next sends are refused, and how many of them.</summary>
    public static ConcurrentDictionary<string, int> Refuse { get; } = new(StringComparer.Ordinal);

    public static List<NotificationRequest> For(string dagId) => [.. Taken.Where(r => r.DagId == dagId)];

    public async Task Invoke(IIncomingGrainCallContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context.InterfaceMethod?.Name != nameof(INotificationGrain.SendAsync) || context.Request.GetArgument(0) is not NotificationRequest request)
        {
            await context.Invoke();
            return;
        }
        if (Refuse.TryGetValue(request.EventId, out var left) && left > 0)
        {
            Refuse[request.EventId] = left - 1;
            throw new InvalidOperationException($"refused {request.EventId}");
        }
        await context.Invoke();
        Taken.Enqueue(request);
    }
}
