using Batchyard.Aws;

namespace Batchyard.SageMakerEmulator;

/// <summary>An emulator started in-process on a free loopback port, for tests.</summary>
public sealed class EmulatorServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private EmulatorServer(WebApplication app, EmulatorSettings settings)
    {
        _app = app;
        Settings = settings;
        Url = EmulatorApp.Address(app);
    }

    public Uri Url { get; }
    public EmulatorSettings Settings { get; }
    public AwsCredentials Credentials => new(Settings.Credentials.First().Key, Settings.Credentials.First().Value);
    public JobStore Jobs => _app.Services.GetRequiredService<JobStore>();
    public S3Store Objects => _app.Services.GetRequiredService<S3Store>();
    public FaultInjector Faults => _app.Services.GetRequiredService<FaultInjector>();
    public EmulatorStats Stats => _app.Services.GetRequiredService<EmulatorStats>();

    public static async Task<EmulatorServer> StartAsync(EmulatorSettings? settings = null)
    {
        settings ??= new EmulatorSettings();
        var app = EmulatorApp.Build(["--urls", "http://127.0.0.1:0"], settings);
        await app.StartAsync().ConfigureAwait(false);
        return new EmulatorServer(app, settings);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }
}
