using System.Net;
using Microsoft.Extensions.Logging;

namespace Batchyard.Aws;

/// <summary>Settings of the AWS "standard" retry mode; the defaults are the SDKs'.</summary>
public sealed record AwsRetryOptions
{
    /// <summary>Attempts per call, the first included.</summary>
    public int MaxAttempts { get; init; } = 3;
    /// <summary>Backoff before retry n is <c>rand(0,1) * min(BaseDelay * 2^n, MaxBackoff)</c>.</summary>
    public TimeSpan BaseDelay { get; init; } = TimeSpan.FromSeconds(1);
    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromSeconds(20);
    /// <summary>Retry budget shared by every call of one client (the SDKs' retry quota).</summary>
    public int BudgetCapacity { get; init; } = 500;
    public int RetryCost { get; init; } = 5;
    public int TimeoutRetryCost { get; init; } = 10;
    /// <summary>Tokens a call that succeeds without retrying gives back.</summary>
    public int SuccessRefund { get; init; } = 1;
}

/// <summary>
/// The SDKs' standard retry mode: which failures are transient, jittered exponential backoff, and a
/// token bucket that stops retries when most calls fail (so a broken service is not hammered).
/// </summary>
public sealed partial class AwsRetryPolicy(AwsRetryOptions options, Func<double>? random = null)
{
    private readonly Func<double> _random = random ?? Random.Shared.NextDouble;
    private readonly Lock _gate = new();
    private int _tokens = options.BudgetCapacity;

    public AwsRetryOptions Options => options;

    /// <summary>Tokens left in the retry budget.</summary>
    public int AvailableTokens
    {
        get
        {
            lock (_gate)
            {
                return _tokens;
            }
        }
    }

    /// <summary>Whether a failure is worth another attempt at all (before the budget is asked).</summary>
    public static bool IsRetryable(Exception error) => error switch
    {
        AwsThrottlingException => true,
        AwsServiceException service => service.StatusCode is HttpStatusCode.InternalServerError or HttpStatusCode.BadGateway
            or HttpStatusCode.ServiceUnavailable or HttpStatusCode.GatewayTimeout,
        HttpRequestException => true,
        TimeoutException => true,
        IOException => true,
        _ => false,
    };

    /// <summary>
    /// Decides whether attempt <paramref name="attempt"/> (1-based) that failed with <paramref name="error"/>
    /// is retried, and after how long. Takes its cost from the budget when it says yes.
    /// </summary>
    public bool TryGetRetryDelay(int attempt, Exception error, out TimeSpan delay)
    {
        delay = TimeSpan.Zero;
        if (attempt >= options.MaxAttempts || !IsRetryable(error))
        {
            return false;
        }
        var cost = error is TimeoutException or TaskCanceledException ? options.TimeoutRetryCost : options.RetryCost;
        lock (_gate)
        {
            if (_tokens < cost)
            {
                return false;
            }
            _tokens -= cost;
        }
        delay = Backoff(attempt);
        return true;
    }

    /// <summary>Jittered exponential backoff before retry number <paramref name="attempt"/>, never above the cap.</summary>
    public TimeSpan Backoff(int attempt)
    {
        var exponential = options.BaseDelay.TotalMilliseconds * Math.Pow(2, attempt - 1);
        var capped = Math.Min(exponential, options.MaxBackoff.TotalMilliseconds);
        return TimeSpan.FromMilliseconds(_random() * capped);
    }

    /// <summary>
    /// Runs one call of <paramref name="service"/> until it succeeds or this policy gives up, each try bounded by
    /// <paramref name="attemptTimeout"/> (a try that runs out is a <see cref="TimeoutException"/>, and retried).
    /// What gives up is thrown as it came: the last <see cref="AwsServiceException"/>, network or timeout error.
    /// </summary>
    public async Task<T> RunAsync<T>(
        string service, string operation, Func<CancellationToken, Task<T>> attempt, TimeSpan attemptTimeout, TimeProvider time, ILogger logger, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(attempt);
        for (var number = 1; ; number++)
        {
            Exception error;
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                timeout.CancelAfter(attemptTimeout);
                var result = await attempt(timeout.Token).ConfigureAwait(false);
                OnSuccess(wasRetried: number > 1);
                return result;
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                error = new TimeoutException($"{service} {operation}: no answer within {attemptTimeout}");
            }
            catch (Exception e) when (e is AwsServiceException or HttpRequestException or IOException)
            {
                error = e;
            }

            if (!TryGetRetryDelay(number, error, out var delay))
            {
                throw error;
            }
            LogRetry(logger, service, operation, number, error.Message, delay);
            await Task.Delay(delay, time, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>A call ended well: a retried one gives its cost back, a first-try success a small refund.</summary>
    public void OnSuccess(bool wasRetried, bool lastRetryWasTimeout = false)
    {
        lock (_gate)
        {
            var refund = wasRetried ? (lastRetryWasTimeout ? options.TimeoutRetryCost : options.RetryCost) : options.SuccessRefund;
            _tokens = Math.Min(options.BudgetCapacity, _tokens + refund);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "{Service} {Operation} attempt {Attempt} failed ({Error}); retrying in {Delay}")]
    private static partial void LogRetry(ILogger logger, string service, string operation, int attempt, string error, TimeSpan delay);
}
