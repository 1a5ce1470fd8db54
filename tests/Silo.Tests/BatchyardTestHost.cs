using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;
using Batchyard.Silo.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Batchyard.Tests;

/// <summary>
/// The real Batchyard host, in this process: HTTP API on a free loopback port, gRPC on another, a silo on free
/// ports, DAGs and data in a temp folder; every log line it writes is kept for assertions.
/// </summary>
public sealed class BatchyardTestHost : IAsyncDisposable
{
    public const string ApiKey = "test-key-8c1f0b6e";

    private readonly WebApplication _app;

    private BatchyardTestHost(WebApplication app, string folder, string httpUrl, string grpcUrl, LogCapture logs)
    {
        _app = app;
        Folder = folder;
        HttpUrl = httpUrl;
        GrpcUrl = grpcUrl;
        Logs = logs;
    }

    public string Folder { get; }
    public string DagsFolder => Path.Combine(Folder, "dags");
    public string HttpUrl { get; }
    public string GrpcUrl { get; }
    public LogCapture Logs { get; }
    public IServiceProvider Services => _app.Services;

    /// <summary>
    /// Starts a host; <paramref name="dagFiles"/> are written to its DAGs folder first, and <paramref name="services"/>
    /// may register services of the test's own (they win over the host's defaults that are only tried).
    /// </summary>
    public static async Task<BatchyardTestHost> StartAsync(
        IReadOnlyDictionary<string, string?>? settings = null,
        IReadOnlyDictionary<string, string>? dagFiles = null,
        Action<IServiceCollection>? services = null)
    {
        var folder = Path.Combine(Path.GetTempPath(), "batchyard-test-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(Path.Combine(folder, "dags"));
        foreach (var (name, text) in dagFiles ?? new Dictionary<string, string>())
        {
            await File.WriteAllTextAsync(Path.Combine(folder, "dags", name), text);
        }
        var grpcPort = FreePort();
        var config = new Dictionary<string, string?>
        {
            ["Urls"] = "http://127.0.0.1:0",
            ["Batchyard:GrpcUrl"] = $"http://127.0.0.1:{grpcPort}",
            ["Batchyard:SiloPort"] = FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Batchyard:GatewayPort"] = FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Batchyard:DagsFolder"] = Path.Combine(folder, "dags"),
            ["Batchyard:DataFolder"] = Path.Combine(folder, "data"),
            ["Batchyard:Local:MemoryCapacityMb"] = "2048",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            config[key] = value;
        }

        var logs = new LogCapture();
        var app = BatchyardHost.Build([], builder =>
        {
            builder.Configuration.AddInMemoryCollection(config);
            builder.Logging.AddProvider(logs);
            // Everything this provider is given is checked by the secrets test, down to Debug.
            builder.Logging.AddFilter<LogCapture>(null, LogLevel.Debug);
            services?.Invoke(builder.Services);
        });
        await app.StartAsync();

        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses;
        var grpcUrl = $"http://127.0.0.1:{grpcPort}";
        // A host listening on every interface is reached over loopback.
        var httpUrl = addresses.First(a => !a.EndsWith($":{grpcPort}", StringComparison.Ordinal))
            .Replace("//0.0.0.0:", "//127.0.0.1:", StringComparison.Ordinal).Replace("//[::]:", "//127.0.0.1:", StringComparison.Ordinal);
        var host = new BatchyardTestHost(app, folder, httpUrl, grpcUrl, logs);
        await host.WaitReadyAsync();
        return host;
    }

    public HttpClient Http(string? key = ApiKey)
    {
        var http = new HttpClient { BaseAddress = new Uri(HttpUrl) };
        if (key is not null)
        {
            http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", key);
        }
        return http;
    }

    /// <summary>Applies a DAG through the HTTP API; fails the test if it is refused.</summary>
    public async Task ApplyAsync(string dagId, string yaml)
    {
        using var http = Http();
        using var response = await http.PutAsync($"/api/v1/dags/{dagId}", new StringContent(yaml, System.Text.Encoding.UTF8, "application/yaml"));
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
    }

    /// <summary>Triggers a run and returns its id.</summary>
    public async Task<string> TriggerAsync(string dagId)
    {
        using var http = Http();
        using var response = await http.PostAsJsonAsync($"/api/v1/dags/{dagId}/runs", new { });
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return body.RootElement.GetProperty("runId").GetString()!;
    }

    /// <summary>Reads the run until <paramref name="condition"/> holds; fails after <paramref name="timeout"/>.</summary>
    public async Task<JsonElement> WaitForRunAsync(string dagId, string runId, Func<JsonElement, bool> condition, TimeSpan? timeout = null, string key = ApiKey)
    {
        using var http = Http(key);
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(60));
        while (true)
        {
            var run = await http.GetFromJsonAsync<JsonElement>($"/api/v1/dags/{dagId}/runs/{runId}", cts.Token);
            if (condition(run))
            {
                return run;
            }
            await Task.Delay(100, cts.Token);
        }
    }

    public Task<JsonElement> WaitForRunEndAsync(string dagId, string runId) =>
        WaitForRunAsync(dagId, runId, r => r.GetProperty("state").GetString() is "succeeded" or "failed" or "cancelled");

    private async Task WaitReadyAsync()
    {
        using var http = Http(null);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while ((await http.GetAsync("/readyz", cts.Token)).StatusCode != HttpStatusCode.OK)
        {
            await Task.Delay(100, cts.Token);
        }
    }

    private static int FreePort() => Batchyard.Testing.FreePorts.Next();

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        try
        {
            Directory.Delete(Folder, recursive: true);
        }
        catch (IOException)
        {
            // A job's files may still be closing; the temp folder is left behind.
        }
    }
}

/// <summary>Keeps every formatted log line (message, exception, scope-free) the host writes.</summary>
public sealed class LogCapture : ILoggerProvider
{
    private readonly ConcurrentQueue<string> _lines = new();

    public IReadOnlyCollection<string> Lines => _lines;

    public ILogger CreateLogger(string categoryName) => new Logger(categoryName, _lines);

    public void Dispose()
    {
    }

    private sealed class Logger(string category, ConcurrentQueue<string> lines) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            // The structured values too: a secret must not hide in an argument that the message does not print.
            var values = state is IEnumerable<KeyValuePair<string, object?>> pairs ? string.Join(' ', pairs.Select(p => $"{p.Key}={p.Value}")) : "";
            lines.Enqueue($"{logLevel} {category}: {formatter(state, exception)} {values} {exception}");
        }
    }
}
