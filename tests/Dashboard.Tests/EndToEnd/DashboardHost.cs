using System.Net;
using System.Net.Sockets;
using Batchyard.Silo.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;

namespace Batchyard.Dashboard.Tests.EndToEnd;

/// <summary>
/// The real Batchyard host (silo, API, dashboard) on a free loopback port with test DAGs in a temp folder,
/// and a headless Debian Chromium driven by Playwright.
/// </summary>
public class DashboardHost : IAsyncLifetime
{
    private WebApplication? _app;
    private IPlaywright? _playwright;

    public string Root { get; } = Directory.CreateTempSubdirectory("batchyard-dashboard-").FullName;

    public Uri BaseAddress { get; private set; } = default!;

    public IBrowser Browser { get; private set; } = default!;

    public IServiceProvider Services => _app!.Services;

    /// <summary>Where screenshots go: the test output's <c>artifacts</c> folder.</summary>
    public static string Artifacts { get; } = Directory.CreateDirectory(Path.Combine(AppContext.BaseDirectory, "artifacts")).FullName;

    protected virtual string? ApiKey => null;

    /// <summary>The DAG files the host starts with (name, text).</summary>
    protected virtual IEnumerable<(string Name, string Text)> DagFiles() => TestDags.All(Root);

    /// <summary>False for a host whose tests render components without a browser.</summary>
    protected virtual bool LaunchesBrowser => true;

    /// <summary>More settings for the host, as <c>--Key=Value</c> arguments (named keys, say).</summary>
    protected virtual IEnumerable<string> Settings => [];

    public async Task InitializeAsync()
    {
        var dags = Directory.CreateDirectory(Path.Combine(Root, "dags")).FullName;
        foreach (var (name, text) in DagFiles())
        {
            await File.WriteAllTextAsync(Path.Combine(dags, name), text);
        }
        var grpcPort = FreePort();
        string[] args =
        [
            "--applicationName=Batchyard.Silo",
            "--environment=Development",
            "--Urls=http://127.0.0.1:0",
            $"--Batchyard:GrpcUrl=http://127.0.0.1:{grpcPort}",
            $"--Batchyard:SiloPort={FreePort()}",
            $"--Batchyard:GatewayPort={FreePort()}",
            $"--Batchyard:DagsFolder={dags}",
            $"--Batchyard:DataFolder={Path.Combine(Root, "data")}",
            "--Logging:LogLevel:Default=Warning",
            .. ApiKey is { } key ? [$"--Batchyard:ApiKey={key}"] : Array.Empty<string>(),
            .. Settings,
        ];
        _app = BatchyardHost.Build(args);
        await _app.StartAsync();
        var address = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First(a => !a.EndsWith($":{grpcPort}", StringComparison.Ordinal));
        BaseAddress = new Uri(address.Replace("[::]", "127.0.0.1", StringComparison.Ordinal) + "/");
        await _app.Services.GetRequiredService<Silo.Loading.DagFolderLoader>().FirstScan.WaitAsync(TimeSpan.FromSeconds(120));
        if (!LaunchesBrowser)
        {
            return;
        }

        _playwright = await Playwright.CreateAsync();
        Browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = "/usr/bin/chromium",
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-quic"],
        });
    }

    /// <summary>A new page at <paramref name="path"/>, waited on until its circuit is interactive (handlers attached).</summary>
    public async Task<IPage> OpenAsync(string path, bool waitInteractive = true)
    {
        var page = await Browser.NewPageAsync(new BrowserNewPageOptions { BaseURL = BaseAddress.ToString(), ViewportSize = new ViewportSize { Width = 1440, Height = 1000 } });
        page.SetDefaultTimeout(30_000);
        await page.GotoAsync(path);
        if (waitInteractive)
        {
            await WaitInteractiveAsync(page);
        }
        return page;
    }

    public static Task WaitInteractiveAsync(IPage page) =>
        page.Locator("[data-testid=interactive]").WaitForAsync(new LocatorWaitForOptions { State = WaitForSelectorState.Attached });

    /// <summary>
    /// Watches <paramref name="selector"/> from the page's first byte on (call before navigating): once shown, does
    /// it ever go away (a loading state in between)? Read the answer with <see cref="DroppedAsync"/>.
    /// </summary>
    public static Task WatchForDropsAsync(IPage page, string selector) => page.AddInitScriptAsync($$"""
        window.__shown = { seen: false, dropped: false };
        new MutationObserver(() => {
          const n = document.querySelectorAll('{{selector}}').length;
          if (n > 0) window.__shown.seen = true;
          else if (window.__shown.seen) window.__shown.dropped = true;
        }).observe(document, { childList: true, subtree: true });
        """);

    /// <summary>Whether the watched selector was shown, and whether it went away after it was.</summary>
    public static async Task<(bool Seen, bool Dropped)> DroppedAsync(IPage page) =>
        (await page.EvaluateAsync<bool>("() => window.__shown.seen"), await page.EvaluateAsync<bool>("() => window.__shown.dropped"));

    public static Task ScreenshotAsync(IPage page, string name) =>
        page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(Artifacts, name + ".png"), FullPage = true });

    public async Task DisposeAsync()
    {
        if (_playwright is not null)
        {
            await Browser.DisposeAsync();
            _playwright.Dispose();
        }
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
        Directory.Delete(Root, recursive: true);
    }

    private static int FreePort() => Batchyard.Testing.FreePorts.Next();
}

/// <summary>The same host with an API key: the dashboard asks for it first.</summary>
public sealed class KeyedDashboardHost : DashboardHost
{
    public const string Key = "s3cret-test-key";

    protected override string? ApiKey => Key;
}

/// <summary>
/// A host with a folder of <see cref="Count"/> generated DAGs: <c>gen-0000</c>…, owner <c>team-{i % 4}</c>,
/// tag <c>t{i % 5}</c>, every tenth one's description naming it "churn".
/// </summary>
public class ManyDagsHost : DashboardHost
{
    protected virtual int Count => 2000;

    protected override IEnumerable<(string Name, string Text)> DagFiles() =>
        Enumerable.Range(0, Count).Select(i => ($"gen-{i:D4}.yaml", $"""
            id: gen-{i:D4}
            description: {(i % 10 == 0 ? "churn model" : "scores")} {i}
            owner: team-{i % 4}
            tags: [t{i % 5}]
            tasks:
              only:
                backend: noop
            """));
}

/// <summary>300 generated DAGs and no browser: for component tests against the real registry.</summary>
public sealed class FewHundredDagsHost : ManyDagsHost
{
    protected override int Count => 300;

    protected override bool LaunchesBrowser => false;
}

/// <summary>The same host with named keys: a viewer for the wall screen and an operator limited to the <c>long</c> tag.</summary>
public sealed class RolesDashboardHost : DashboardHost
{
    public const string ViewerKey = "wall-screen-key-1";
    public const string TeamKey = "long-team-key-2";

    protected override IEnumerable<string> Settings =>
    [
        $"--Batchyard:ApiKeys:wall:Key={ViewerKey}",
        "--Batchyard:ApiKeys:wall:Role=viewer",
        $"--Batchyard:ApiKeys:long-team:Key={TeamKey}",
        "--Batchyard:ApiKeys:long-team:Role=operator",
        "--Batchyard:ApiKeys:long-team:Tags=long",
    ];
}
