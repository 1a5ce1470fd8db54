using System.Net;
using System.Net.Sockets;
using Batchyard.Silo.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace Batchyard.Tests;

/// <summary>The real Batchyard host (silo + API) on free loopback ports, with its own DAGs and data folders.</summary>
public sealed class TestHost : IAsyncDisposable
{
    private readonly WebApplication _app;

    private TestHost(WebApplication app, string root, Uri address)
    {
        _app = app;
        Root = root;
        Address = address;
        Http = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(30) };
    }

    public string Root { get; }

    public string DagsFolder => Path.Combine(Root, "dags");

    public Uri Address { get; }

    public HttpClient Http { get; }

    public IServiceProvider Services => _app.Services;

    /// <summary>Starts a host; <paramref name="dagFiles"/> are written to its DAGs folder first.</summary>
    public static async Task<TestHost> StartAsync(IReadOnlyDictionary<string, string>? dagFiles = null, IReadOnlyDictionary<string, string?>? settings = null)
    {
        var root = Directory.CreateTempSubdirectory("batchyard-host-").FullName;
        Directory.CreateDirectory(Path.Combine(root, "dags"));
        foreach (var (name, text) in dagFiles ?? new Dictionary<string, string>())
        {
            await File.WriteAllTextAsync(Path.Combine(root, "dags", name), text);
        }

        var grpcUrl = $"http://127.0.0.1:{FreePort()}";
        var app = BatchyardHost.Build([], builder =>
        {
            builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Urls"] = "http://127.0.0.1:0",
                ["Batchyard:GrpcUrl"] = grpcUrl,
                ["Batchyard:SiloPort"] = FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["Batchyard:GatewayPort"] = FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["Batchyard:DagsFolder"] = Path.Combine(root, "dags"),
                ["Batchyard:DataFolder"] = Path.Combine(root, "data"),
                ["Logging:LogLevel:Default"] = "Warning",
            });
            if (settings is not null)
            {
                builder.Configuration.AddInMemoryCollection(settings);
            }
        });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First(a => !a.StartsWith(grpcUrl, StringComparison.Ordinal));
        var host = new TestHost(app, root, new Uri(address));
        await host.WaitReadyAsync();
        return host;
    }

    public async Task WaitReadyAsync()
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            var response = await Http.GetAsync(new Uri("/readyz", UriKind.Relative));
            if (response.StatusCode == HttpStatusCode.OK)
            {
                return;
            }
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("host not ready: " + await response.Content.ReadAsStringAsync());
            }
            await Task.Delay(50);
        }
    }

    public static int FreePort() => Batchyard.Testing.FreePorts.Next();

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
            // A job's files may still be closing; the temp folder is cleaned by the OS.
        }
    }
}
