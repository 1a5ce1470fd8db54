using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Batchyard.Backends.Local;

public static class LocalBackendServiceCollectionExtensions
{
    /// <summary>Registers the <c>local</c> backend, its options bound from <c>Batchyard:Local</c>.</summary>
    public static IServiceCollection AddLocalBackend(this IServiceCollection services, IConfiguration config)
    {
        ArgumentNullException.ThrowIfNull(config);
        services.Configure<LocalBackendOptions>(config.GetSection(LocalBackendOptions.SectionName));
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<LocalJobBackend>();
        services.AddSingleton<IJobBackend>(sp => sp.GetRequiredService<LocalJobBackend>());
        return services;
    }
}
