using System.Net;
using Batchyard.Access;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace Batchyard.Silo.Hosting;

/// <summary>
/// Safe by default: a Batchyard that listens beyond loopback (0.0.0.0, [::], *, a host name or a LAN address)
/// with no API key refuses to start, since anyone who reaches it could apply a DAG whose local task runs any
/// command. It checks the configured URLs before anything starts, and the addresses actually bound once the
/// server listens (a host may add endpoints in code). <c>Batchyard:AllowAnonymous=true</c> accepts the risk.
/// </summary>
internal sealed class ListenGuard(ApiKeys keys, IServer server, IConfiguration configuration) : IHostedLifecycleService
{
    /// <summary>Refuses, before the host is built, a configuration that would listen beyond loopback without a key.</summary>
    public static void CheckConfigured(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        Refuse(configuration, new ApiKeys(configuration), ConfiguredUrls(configuration));
    }

    /// <summary>The URLs Kestrel will listen on as configuration says (urls / ASPNETCORE_URLS, HTTP(S)_PORTS, Kestrel endpoints, the gRPC URL).</summary>
    public static IEnumerable<string> ConfiguredUrls(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var endpoints = configuration.GetSection("Kestrel:Endpoints").GetChildren().Select(e => e["Url"]).OfType<string>().ToList();
        foreach (var url in endpoints)
        {
            yield return url;
        }
        if (endpoints.Count > 0)
        {
            // Explicit endpoints replace urls (and the gRPC URL, see GrpcHosting).
            yield break;
        }
        if (configuration[WebHostDefaults.ServerUrlsKey] is { Length: > 0 } urls)
        {
            foreach (var url in urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                yield return url;
            }
        }
        else
        {
            // Without urls, HTTP_PORTS / HTTPS_PORTS (as the .NET container images set them) bind every interface.
            foreach (var (key, scheme) in new[] { (WebHostDefaults.HttpPortsKey, "http"), (WebHostDefaults.HttpsPortsKey, "https") })
            {
                foreach (var port in (configuration[key] ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                {
                    yield return $"{scheme}://*:{port}";
                }
            }
        }
        if (configuration["Batchyard:Role"] is not { } role || !role.Equals(nameof(HostRole.Dashboard), StringComparison.OrdinalIgnoreCase))
        {
            yield return configuration["Batchyard:GrpcUrl"] ?? Grpc.GrpcHosting.DefaultUrl;
        }
    }

    /// <summary>True when <paramref name="url"/> is reachable from this machine only: localhost, a loopback address, or a Unix socket.</summary>
    public static bool IsLoopback(string url)
    {
        ArgumentNullException.ThrowIfNull(url);
        if (url.Length == 0 || url.Contains("://unix:", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }
        var rest = url[(url.IndexOf("://", StringComparison.Ordinal) is var i and >= 0 ? i + 3 : 0)..];
        var host = rest.StartsWith('[') ? rest[1..Math.Max(1, rest.IndexOf(']', StringComparison.Ordinal))] : rest.Split(':', '/')[0];
        return host.Equals("localhost", StringComparison.OrdinalIgnoreCase) || (IPAddress.TryParse(host, out var ip) && IPAddress.IsLoopback(ip));
    }

    private static void Refuse(IConfiguration configuration, ApiKeys keys, IEnumerable<string> urls)
    {
        if (keys.Enabled || configuration.GetValue<bool>("Batchyard:AllowAnonymous"))
        {
            return;
        }
        var open = urls.Where(u => !IsLoopback(u)).Distinct(StringComparer.OrdinalIgnoreCase).ToList();
        if (open.Count > 0)
        {
            throw new InvalidOperationException(
                $"Batchyard refuses to start: it would listen on {string.Join(", ", open)}, beyond this machine, without an API key, " +
                "and anyone who reaches it could run any command through a DAG's local task. Set a key: Batchyard__ApiKey=<secret> " +
                "(one admin key), or named keys Batchyard__ApiKeys__NAME__Key=<secret> with Batchyard__ApiKeys__NAME__Role=viewer|operator|admin; " +
                "or listen on localhost only; or set Batchyard__AllowAnonymous=true (Batchyard:AllowAnonymous) to accept an open server.");
        }
    }

    public Task StartedAsync(CancellationToken cancellationToken)
    {
        Refuse(configuration, keys, server.Features.Get<IServerAddressesFeature>()?.Addresses ?? []);
        return Task.CompletedTask;
    }

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
