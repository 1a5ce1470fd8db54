using Batchyard.Events;
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
                if (Wants(run))
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
            LiveError = ex.Message;
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
