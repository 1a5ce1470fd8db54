using Batchyard.Dashboard.Model;
using Batchyard.Events;
using Batchyard.Grains;
using Batchyard.Runs;
using Microsoft.AspNetCore.Components;

namespace Batchyard.Dashboard.Components.Shared;

/// <summary>
/// A page that follows run changes: once the circuit is interactive it subscribes to the silo's
/// <see cref="RunEvents"/> and re-renders on every change it cares about, and refreshes on a slow tick
/// for what events do not carry (next run times, runs on other silos of a cluster).
/// </summary>
public abstract class LivePage : ComponentBase, IDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private bool _following;

    [Inject] private RunEvents Events { get; set; } = default!;

    [Inject] protected TimeProvider Time { get; set; } = default!;

    [Inject] private IGrainFactory Grains { get; set; } = default!;

    /// <summary>Held here: Orleans keeps only a weak reference to an observer object.</summary>
    private RunWatcher? _watcher;

    /// <summary>
    /// A run this page shows: it is also watched through the run grain, so that its changes are pushed
    /// wherever the run lives (another silo of a cluster, or a dashboard that is only a client).
    /// </summary>
    protected virtual (string DagId, string RunId)? WatchedRun => null;

    protected DateTimeOffset Now => Time.GetUtcNow();

    protected CancellationToken Stopping => _stop.Token;

    /// <summary>How often <see cref="OnTickAsync"/> runs; null for never.</summary>
    protected virtual TimeSpan? TickInterval => TimeSpan.FromSeconds(10);

    /// <summary>The last error a live refresh met, shown by the page; cleared by the next good refresh.</summary>
    protected string? LiveError { get; private set; }

    protected override void OnInitialized()
    {
        // Prerendering has no circuit to push to; the interactive render subscribes (before it loads, so
        // that no change between the load and the subscription is missed).
        if (RendererInfo.IsInteractive && !_following)
        {
            _following = true;
            _ = FollowAsync();
            if (WatchedRun is { } watched)
            {
                _ = WatchAsync(watched.DagId, watched.RunId);
            }
            if (TickInterval is { } interval)
            {
                _ = TickAsync(interval);
            }
        }
    }

    protected virtual bool Wants(RunDetails run) => true;

    protected abstract Task OnRunChangedAsync(RunDetails run);

    protected virtual Task OnTickAsync() => Task.CompletedTask;

    private async Task FollowAsync()
    {
        try
        {
            await foreach (var run in Events.SubscribeAsync(_stop.Token))
            {
                // A watched run's changes come through its watcher (wherever it runs); not twice.
                if (Wants(run) && (_watcher is null || WatchedRun != (run.DagId, run.RunId)))
                {
                    await InvokeAsync(() => GuardAsync(() => OnRunChangedAsync(run)));
                }
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
            // The page was left.
        }
    }

    private async Task WatchAsync(string dagId, string runId)
    {
        _watcher = new RunWatcher(this);
        var reference = Grains.CreateObjectReference<IRunObserver>(_watcher);
        var run = Grains.GetGrain<IDagRunGrain>(RunKeys.Run(dagId, runId));
        try
        {
            // The run grain forgets a watcher after a minute, and forgets all of them if it moves to another
            // silo: renewing often keeps the pushes coming.
            while (!_stop.IsCancellationRequested)
            {
                try
                {
                    await run.WatchAsync(reference);
                }
                catch (Exception ex) when (ex is OrleansException or TimeoutException)
                {
                    // The cluster is busy or a silo is failing over: the tick keeps the page fresh meanwhile.
                }
                await Task.Delay(TimeSpan.FromSeconds(20), Time, _stop.Token);
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
            // The page was left.
        }
        finally
        {
            try
            {
                await run.UnwatchAsync(reference);
            }
            catch (Exception ex) when (ex is OrleansException or TimeoutException)
            {
                // It forgets the watcher by itself within a minute.
            }
            Grains.DeleteObjectReference<IRunObserver>(reference);
        }
    }

    private sealed class RunWatcher(LivePage page) : IRunObserver
    {
        public Task OnRunChangedAsync(RunDetails run) =>
            page._stop.IsCancellationRequested || !page.Wants(run)
                ? Task.CompletedTask
                : page.InvokeAsync(() => page.GuardAsync(() => page.OnRunChangedAsync(run)));
    }

    private async Task TickAsync(TimeSpan interval)
    {
        using var timer = new PeriodicTimer(interval, Time);
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token))
            {
                await InvokeAsync(() => GuardAsync(OnTickAsync));
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
            // The page was left.
        }
    }

    private async Task GuardAsync(Func<Task> refresh)
    {
        try
        {
            await refresh();
            LiveError = null;
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !_stop.IsCancellationRequested)
        {
            // A failed refresh must not end the subscription: show it and keep following.
            LiveError = Format.Error(ex);
        }
        if (!_stop.IsCancellationRequested)
        {
            StateHasChanged();
        }
    }

    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    protected virtual void Dispose(bool disposing)
    {
        if (disposing)
        {
            _stop.Cancel();
            _stop.Dispose();
        }
    }
}
