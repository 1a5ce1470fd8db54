using Batchyard.Aws;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;

namespace Batchyard.Backends.SageMaker;

public static class SageMakerServiceCollectionExtensions
{
    /// <summary>
    /// Registers the <c>sagemaker</c> and <c>sagemaker-training</c> backends, their wire clients and the
    /// silo's status poller. Credentials come from the AWS default chain unless an
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
            () => AwsEnvironment.ResolveEndpoint(service, AwsEnvironment.ResolveRegion(Environment.GetEnvironmentVariable, options.Region), Environment.GetEnvironmentVariable, endpoint(options)),
            services.GetRequiredService<IAwsCredentialSource>(),
            new AwsRetryPolicy(options.Retry),
            json,
            services.GetRequiredService<TimeProvider>(),
            services.GetRequiredService<ILoggerFactory>().CreateLogger("Batchyard.Aws." + service.SigningName))
        {
            AttemptTimeout = options.AttemptTimeout,
        };
    }
}

/// <summary>The HttpClient both AWS clients share (one connection pool per silo).</summary>
public sealed class SageMakerHttp : IDisposable
{
    public HttpClient Client { get; } = new(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) })
    {
        // Each attempt has its own timeout in AwsJsonClient; this one must never fire first.
        Timeout = Timeout.InfiniteTimeSpan,
    };

    public void Dispose() => Client.Dispose();
}
