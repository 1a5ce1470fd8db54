using Batchyard.Runs;
using Orleans.Concurrency;

namespace Batchyard.Grains;

/// <summary>Told of every change of a run it watches (see <see cref="IDagRunGrain.WatchAsync"/>), from any silo or client.</summary>
public interface IRunObserver : IGrainObserver
{
    /// <summary>The run's new snapshot.</summary>
    [OneWay]
    Task OnRunChangedAsync(RunDetails run);
}
