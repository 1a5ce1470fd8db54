using System.Diagnostics;
using Batchyard.Aws;

namespace Batchyard.Backends.SageMaker;

/// <summary>What the last reachability check of SageMaker found.</summary>
public sealed record SageMakerHealthReport(bool Reachable, string Summary, string? Endpoint, string? Region, DateTimeOffset CheckedAt);

/// <summary>
/// Whether SageMaker answers this silo: one signed <c>ListProcessingJobs</c> call (endpoint, region and
/// credentials all take part), remembered for a minute so that open dashboards do not spend the account's
/// API rate.
/// </summary>
public sealed class SageMakerHealth(SageMakerClient client, TimeProvider time)
{
    private static readonly TimeSpan CacheFor = TimeSpan.FromMinutes(1);
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(5);
    private readonly SemaphoreSlim _gate = new(1, 1);
    private SageMakerHealthReport? _last;

    public async Task<SageMakerHealthReport> CheckAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            if (_last is { } last && time.GetUtcNow() - last.CheckedAt < CacheFor)
            {
                return last;
            }
            return _last = await ProbeAsync(cancellationToken);
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task<SageMakerHealthReport> ProbeAsync(CancellationToken cancellationToken)
    {
        AwsEndpoint endpoint;
        try
        {
            endpoint = client.Endpoint;
        }
        catch (InvalidOperationException ex)
        {
            return new(false, "not configured: " + ex.Message, null, null, time.GetUtcNow());
        }

        var watch = Stopwatch.StartNew();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(Patience);
        string summary;
        var reachable = false;
        try
        {
            await client.ListProcessingJobsAsync(new ListProcessingJobsRequest { MaxResults = 1 }, timeout.Token);
            reachable = true;
            summary = $"reachable ({watch.ElapsedMilliseconds} ms)";
        }
        catch (AwsServiceException ex)
        {
            // SageMaker answered: the endpoint is there, but the call was refused (credentials, permissions).
            reachable = ex is not AwsServerException;
            summary = $"answered {ex.ErrorCode}: {ex.Message}";
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            summary = $"no answer within {Patience.TotalSeconds:0} s";
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException or InvalidOperationException or System.Security.Authentication.AuthenticationException)
        {
            summary = "unreachable: " + ex.Message;
        }
        return new(reachable, summary, endpoint.Url.ToString(), endpoint.Region, time.GetUtcNow());
    }
}
