using System.Threading.Channels;
using Batchyard.Runs;

namespace Batchyard.Events;

/// <summary>
/// Run changes published by the run grains of this silo, for live views (dashboard, streaming APIs).
/// Subscribers get their own bounded channel; a slow subscriber loses old changes, never blocks a grain.
/// </summary>
public sealed class RunEvents
{
    private readonly Lock _gate = new();
    private ImmutableSubscribers _subscribers = new([]);

    /// <summary>Publishes a run's new snapshot to every subscriber.</summary>
    public void Publish(RunDetails run)
    {
        foreach (var channel in _subscribers.Channels)
        {
            channel.Writer.TryWrite(run);
        }
    }

    /// <summary>Every run change from now on, until <paramref name="cancellationToken"/> ends the subscription.</summary>
    public async IAsyncEnumerable<RunDetails> SubscribeAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var channel = Channel.CreateBounded<RunDetails>(new BoundedChannelOptions(1024) { FullMode = BoundedChannelFullMode.DropOldest });
        lock (_gate)
        {
            _subscribers = new([.. _subscribers.Channels, channel]);
        }
        try
        {
            await foreach (var run in channel.Reader.ReadAllAsync(cancellationToken))
            {
                yield return run;
            }
        }
        finally
        {
            lock (_gate)
            {
                _subscribers = new([.. _subscribers.Channels.Where(c => c != channel)]);
            }
        }
    }

    private sealed record ImmutableSubscribers(Channel<RunDetails>[] Channels);
}
