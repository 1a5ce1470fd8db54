using System.Diagnostics;
using System.Globalization;
using Batchyard.Aws;

namespace Batchyard.Backends.SageMaker;

/// <summary>What the last reachability check of SageMaker found.</summary>
public sealed record SageMakerHealthReport(BackendStatus Status, string Summary, string? Endpoint, string? Region, DateTimeOffset CheckedAt)
{
    /// <summary>SageMaker answered (possibly refusing the call).</summary>
    public bool Reachable => Status != BackendStatus.Unavailable;
}

/// <summary>
/// Whether SageMaker answers this silo: one signed <c>ListProcessingJobs</c> call (endpoint, region and
/// credentials all take part), remembered for a minute so that open dashboards and health probes do not spend
/// the account's API rate. Both SageMaker backends describe themselves from it.
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

    /// <summary>
    /// A SageMaker backend's description from a check: ok when SageMaker answered and tasks can run, degraded when
    /// it refused the call (credentials, permissions) or no execution role is set, unavailable when it did not answer.
    /// </summary>
    public static BackendHealth Describe(string backend, SageMakerJobKind kind, string? roleArn, SageMakerHealthReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        var hasRole = !string.IsNullOrWhiteSpace(roleArn);
        var status = report.Status == BackendStatus.Ok && !hasRole ? BackendStatus.Degraded : report.Status;
        var message = report.Status == BackendStatus.Ok && !hasRole
            ? $"{report.Summary}, but {SageMakerOptions.Section}:RoleArn is not set: its tasks are refused"
            : report.Summary;
        var facts = new List<BackendFact>();
        if (report.Endpoint is { } endpoint)
        {
            facts.Add(new BackendFact { Name = "endpoint", Value = endpoint });
        }
        if (report.Region is { } region)
        {
            facts.Add(new BackendFact { Name = "region", Value = region });
        }
        // Whether, not which: /readyz is open to anyone, and a role's ARN names the AWS account.
        facts.Add(new BackendFact { Name = "execution role", Value = hasRole ? "set" : $"not set ({SageMakerOptions.Section}:RoleArn)" });
        facts.Add(new BackendFact { Name = "checked", Value = report.CheckedAt.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss 'UTC'", CultureInfo.InvariantCulture) });
        return new BackendHealth
        {
            Backend = backend,
            Status = status,
            Message = message,
            Facts = [.. facts],
            Links = report.Region is { } r
                ? [new BackendLink { Title = kind == SageMakerJobKind.Training ? "Training jobs in the AWS console" : "Processing jobs in the AWS console", Url = SageMakerConsole.JobsPage(r, kind) }]
                : [],
        };
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
            return new(BackendStatus.Unavailable, "not configured: " + ex.Message, null, null, time.GetUtcNow());
        }

        var watch = Stopwatch.StartNew();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(Patience);
        string summary;
        var status = BackendStatus.Unavailable;
        try
        {
            await client.ListProcessingJobsAsync(new ListProcessingJobsRequest { MaxResults = 1 }, timeout.Token);
            status = BackendStatus.Ok;
            summary = $"reachable ({watch.ElapsedMilliseconds} ms)";
        }
        catch (AwsServiceException ex)
        {
            // SageMaker answered: the endpoint is there, but the call was refused (credentials, permissions), or
            // it failed on its side.
            status = ex is AwsServerException ? BackendStatus.Unavailable : BackendStatus.Degraded;
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
        return new(status, summary, endpoint.Url.ToString(), endpoint.Region, time.GetUtcNow());
    }
}
