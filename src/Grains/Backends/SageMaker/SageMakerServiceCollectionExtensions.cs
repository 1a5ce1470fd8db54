using Batchyard.Aws;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;

namespace Batchyard.Backends.SageMaker;

public static class SageMakerServiceCollectionExtensions
{
    /// <summary>
    /// Registers the <c>sagemaker</c> and <c>sagemaker-training</c> backends, their wire clients (SageMaker,
    /// CloudWatch Logs, and S3 for processing outputs) and the silo's status poller. Credentials come from the AWS default chain unless an
    /// <see cref="IAwsCredentialSource"/> is registered first (the emulator fixture does that).
    /// </summary>
    public static IServiceCollection AddSageMakerBackends(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        var options = SageMakerOptions.From(configuration);
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<IAwsCredentialSource, SdkAwsCredentialSource>();
        services.TryAddSingleton(options);
        services.TryAddSingleton<SageMakerHttp>();
        services.TryAddSingleton(sp => new SageMakerClient(Wire(sp, AwsServiceInfo.SageMaker, SageMakerClient.Json, o => o.Endpoint)));
        services.TryAddSingleton(sp => new CloudWatchLogsClient(Wire(sp, AwsServiceInfo.CloudWatchLogs, CloudWatchLogsClient.Json, o => o.LogsEndpoint)));
        services.TryAddSingleton(S3);
        services.TryAddSingleton<SageMakerStatusPoller>();
        services.TryAddSingleton<SageMakerHealth>();
        services.TryAddSingleton<SageMakerProcessingBackend>();
        services.TryAddSingleton<SageMakerTrainingBackend>();
        services.AddSingleton<IJobBackend>(sp => sp.GetRequiredService<SageMakerProcessingBackend>());
        services.AddSingleton<IJobBackend>(sp => sp.GetRequiredService<SageMakerTrainingBackend>());
        return services;
    }

    private static AwsJsonClient Wire(IServiceProvider services, AwsServiceInfo service, System.Text.Json.JsonSerializerOptions json, Func<SageMakerOptions, string?> endpoint)
    {
        var options = services.GetRequiredService<SageMakerOptions>();
        return new AwsJsonClient(
            services.GetRequiredService<SageMakerHttp>().Client,
            service,
            () => Endpoint(service, options, endpoint(options)),
            services.GetRequiredService<IAwsCredentialSource>(),
            new AwsRetryPolicy(options.Retry),
            json,
            services.GetRequiredService<TimeProvider>(),
            services.GetRequiredService<ILoggerFactory>().CreateLogger("Batchyard.Aws." + service.SigningName))
        {
            AttemptTimeout = options.AttemptTimeout,
            Metrics = services.GetService<Telemetry.BatchyardMetrics>(),
        };
    }

    // S3 signs in the same region as SageMaker: the silo talks to one account and region.
    private static S3Client S3(IServiceProvider services)
    {
        var options = services.GetRequiredService<SageMakerOptions>();
        return new S3Client(
            services.GetRequiredService<SageMakerHttp>().Client,
            () => Endpoint(AwsServiceInfo.S3, options, options.S3Endpoint),
            services.GetRequiredService<IAwsCredentialSource>(),
            new AwsRetryPolicy(options.Retry),
            services.GetRequiredService<TimeProvider>(),
            services.GetRequiredService<ILoggerFactory>().CreateLogger("Batchyard.Aws.s3"))
        {
            AttemptTimeout = options.AttemptTimeout,
            Metrics = services.GetService<Telemetry.BatchyardMetrics>(),
        };
    }

    private static AwsEndpoint Endpoint(AwsServiceInfo service, SageMakerOptions options, string? configured) =>
        AwsEnvironment.ResolveEndpoint(service, AwsEnvironment.ResolveRegion(Environment.GetEnvironmentVariable, options.Region), Environment.GetEnvironmentVariable, configured);
}

/// <summary>The HttpClient the AWS clients share (one connection pool per silo).</summary>
public sealed class SageMakerHttp : IDisposable
{
    public HttpClient Client { get; } = new(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) })
    {
        // Each attempt has its own timeout (AwsRetryPolicy.RunAsync); this one must never fire first.
        Timeout = Timeout.InfiniteTimeSpan,
    };

    public void Dispose() => Client.Dispose();
}
