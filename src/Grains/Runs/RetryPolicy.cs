using Batchyard.Dags;

namespace Batchyard.Runs;

/// <summary>Airflow's retry arithmetic: <c>retry_delay × retry_backoff^(n-1)</c>, capped by <c>max_retry_delay</c>.</summary>
public static class RetryPolicy
{
    /// <summary>The delay before retry number <paramref name="retry"/> (1 for the first retry).</summary>
    public static TimeSpan DelayBefore(TaskDefinition task, int retry)
    {
        var seconds = task.RetryDelay.TotalSeconds * Math.Pow(Math.Max(1.0, task.RetryBackoff), Math.Max(0, retry - 1));
        var delay = double.IsFinite(seconds) && seconds < TimeSpan.MaxValue.TotalSeconds / 2
            ? TimeSpan.FromSeconds(seconds)
            : TimeSpan.MaxValue / 2;
        return task.MaxRetryDelay is { } cap && delay > cap ? cap : delay;
    }
}
