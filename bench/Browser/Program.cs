using System.Diagnostics;
using System.Globalization;
using System.Text;
using Batchyard.Grains;
using Batchyard.Runs;
using Batchyard.Silo.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;

// The dashboard in Debian's Chromium against one embedded silo (memory mode), at the sizes users reach:
//   map   a run whose noop task is mapped over N items (default 10,000), capped so that it changes for a while
//   wide  a run of N plain noop tasks (default 2,000) under the DAG's max_active_tasks
//   dags  the DAG list with N DAG files (default 10,000)
// For a run: the time from navigation to the first task row (prerendered) and to the live circuit, how long
// clicks take to show while the run changes (p50/max over a series), the browser's long tasks meanwhile, and
// the same page again once the run has ended. Prints one table; see bench/README.md.
var options = BenchOptions.Parse(args);
var results = new List<(string Scenario, string Metric, string Value)>();
foreach (var scenario in options.Scenarios)
{
    await using var bench = await BrowserBench.StartAsync(scenario, options);
    var rows = scenario switch
    {
        "map" => await bench.MeasureRunAsync("mapped", "score", mapped: true),
        "wide" => await bench.MeasureRunAsync("wide", "w0", mapped: false),
        "dags" => await bench.MeasureDagListAsync(),
        "cron" => await bench.MeasureCronAsync(),
        _ => throw new ArgumentException($"unknown scenario '{scenario}' (map, wide, dags, cron)"),
    };
    results.AddRange(rows.Select(r => (scenario, r.Metric, r.Value)));
}

Console.WriteLine();
Console.WriteLine($"================ dashboard benchmark ({DateTimeOffset.UtcNow:yyyy-MM-ddTHH:mm:ssZ}, {Environment.ProcessorCount} cores) ================");
Console.WriteLine($"{"scenario",-10} {"metric",-44} value");
foreach (var (scenario, metric, value) in results)
{
    Console.WriteLine($"{scenario,-10} {metric,-44} {value}");
}

internal sealed record BenchOptions(IReadOnlyList<string> Scenarios, int Items, int MaxActive, int Width, int Dags, int Clicks, int Slots = 2, string? Postgres = null, int Silos = 1)
{
    public static BenchOptions Parse(string[] args)
    {
        var scenarios = new List<string>();
        int items = 10_000, maxActive = 4, width = 2_000, dags = 10_000, clicks = 12, slots = 2, silos = 1;
        string? postgres = null;
        for (var i = 0; i < args.Length; i++)
        {
            int Next() => int.Parse(args[++i], CultureInfo.InvariantCulture);
            switch (args[i])
            {
                case "--items": items = Next(); break;
                case "--max-active": maxActive = Next(); break;
                case "--width": width = Next(); break;
                case "--dags": dags = Next(); break;
                case "--clicks": clicks = Next(); break;
                case "--slots": slots = Next(); break;
                case "--postgres": postgres = args[++i]; break;
                case "--silos": silos = Next(); break;
                case "all": scenarios.AddRange(["map", "wide", "dags"]); break;
                default: scenarios.Add(args[i]); break;
            }
        }
        if (silos > 1 && postgres is null)
        {
            throw new ArgumentException("--silos above 1 needs --postgres (silos cluster over PostgreSQL)");
        }
        return new BenchOptions(scenarios.Count == 0 ? ["map", "wide", "dags"] : scenarios, items, maxActive, width, dags, clicks, slots, postgres, silos);
    }
}

internal sealed class BrowserBench : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly IPlaywright _playwright;
    private readonly IBrowser _browser;
    private readonly string _root;
    private readonly BenchOptions _options;
    private readonly List<(string Metric, string Value)> _rows = [];
    private IReadOnlyList<ChildSilo> _others = [];

    private BrowserBench(WebApplication app, IPlaywright playwright, IBrowser browser, string root, Uri baseAddress, BenchOptions options)
    {
        _app = app;
        _playwright = playwright;
        _browser = browser;
        _root = root;
        BaseAddress = baseAddress;
        _options = options;
    }

    public Uri BaseAddress { get; }

    public static async Task<BrowserBench> StartAsync(string scenario, BenchOptions options)
    {
        var root = Directory.CreateTempSubdirectory("batchyard-browser-bench-").FullName;
        var dags = Directory.CreateDirectory(Path.Combine(root, "dags")).FullName;
        var files = scenario switch
        {
            "map" => [("mapped.yaml", MappedDag(options.Items, options.MaxActive))],
            "wide" => [("wide.yaml", WideDag(options.Width))],
            "dags" => Enumerable.Range(0, options.Dags).Select(i => ($"dag-{i:00000}.yaml", ListedDag(i, "0 3 * * *"))).ToList(),
            "cron" => Enumerable.Range(0, options.Dags).Select(i => ($"dag-{i:00000}.yaml", ListedDag(i, "* * * * *"))).ToList(),
            _ => new List<(string, string)>(),
        };
        foreach (var (name, text) in files)
        {
            await File.WriteAllTextAsync(Path.Combine(dags, name), text);
        }

        var grpcPort = Batchyard.Testing.FreePorts.Next();
        string[] args =
        [
            "--applicationName=Batchyard.Silo",
            "--environment=Development",
            "--Urls=http://127.0.0.1:0",
            $"--Batchyard:GrpcUrl=http://127.0.0.1:{grpcPort}",
            $"--Batchyard:SiloPort={Batchyard.Testing.FreePorts.Next()}",
            $"--Batchyard:GatewayPort={Batchyard.Testing.FreePorts.Next()}",
            $"--Batchyard:DagsFolder={dags}",
            $"--Batchyard:DataFolder={Path.Combine(root, "data")}",
            "--Logging:LogLevel:Default=Warning",
            .. options.Postgres is { } connection ? ["--Batchyard:Storage=Postgres", $"--ConnectionStrings:Postgres={connection}", "--Batchyard:AdvertisedAddress=127.0.0.1"] : Array.Empty<string>(),
        ];
        var started = Stopwatch.StartNew();
        var app = BatchyardHost.Build(args);
        await app.StartAsync();
        // More silos share the cluster: started with this one, each loads the same folder, as deployed.
        var others = Enumerable.Range(2, Math.Max(0, options.Silos - 1))
            .Select(n => ChildSilo.Start($"silo-{n}", options.Postgres!, dags, Path.Combine(root, $"data-{n}")))
            .ToList();
        await app.Services.GetRequiredService<Batchyard.Silo.Loading.DagFolderLoader>().FirstScan.WaitAsync(TimeSpan.FromMinutes(5));
        var loaded = started.Elapsed;
        foreach (var other in others)
        {
            await other.WaitReadyAsync(TimeSpan.FromMinutes(5));
        }
        var allLoaded = started.Elapsed;
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses
            .First(a => !a.EndsWith($":{grpcPort}", StringComparison.Ordinal));
        var playwright = await Playwright.CreateAsync();
        var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = "/usr/bin/chromium",
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        });
        var bench = new BrowserBench(app, playwright, browser, root, new Uri(address + "/"), options) { _others = others };
        bench._rows.Add(("silo start to DAG folder loaded (ms)", Ms(loaded)));
        if (others.Count > 0)
        {
            bench._rows.Add(($"  all {others.Count + 1} silos ready (ms)", Ms(allLoaded)));
        }
        if (app.Services.GetRequiredService<Batchyard.Silo.Loading.DagFolderLoader>().LastScan is { } scan)
        {
            bench._rows.Add(("  of which files read+parsed / applied (ms)", $"{Ms(scan.ReadAndParse)} / {Ms(scan.Apply)} ({scan.Changed} files)"));
        }
        // A first page warms the browser and the dashboard (its first render, the circuit's hub): not measured.
        var warm = await bench.NewPageAsync();
        await warm.GotoAsync("cluster");
        await warm.Locator("[data-testid=interactive]").WaitForAsync(new LocatorWaitForOptions { State = WaitForSelectorState.Attached });
        await warm.CloseAsync();
        return bench;
    }

    /// <summary>Opens the run page while the run changes, clicks through it, and opens it again once the run has ended.</summary>
    public async Task<List<(string Metric, string Value)>> MeasureRunAsync(string dagId, string taskId, bool mapped)
    {
        var grains = _app.Services.GetRequiredService<IGrainFactory>();
        var run = await grains.GetGrain<IDagGrain>(dagId).TriggerAsync(new TriggerRequest());
        var runGrain = grains.GetGrain<IDagRunGrain>(RunKeys.Run(dagId, run.RunId));
        var path = $"dags/{dagId}/runs/{Uri.EscapeDataString(run.RunId)}";
        // Let it get going: the page should show a run with many entries, in every state.
        await WaitAsync(async () => (await runGrain.GetAsync())?.Tasks.Count(t => t.State.IsFinal()) >= 200 || (await runGrain.GetAsync())?.State.IsFinal() == true, TimeSpan.FromMinutes(2));
        var entries = (await runGrain.GetAsync())!.Tasks.Length;
        _rows.Add(("task entries in the run", entries.ToString(CultureInfo.InvariantCulture)));

        var history = _app.Services.GetRequiredService<Batchyard.History.IRunHistoryStore>();
        var read = Stopwatch.StartNew();
        await runGrain.GetAsync();
        _rows.Add(("while running: the run grain's details (ms)", Ms(read.Elapsed)));
        read.Restart();
        await history.GetRunAsync(dagId, run.RunId);
        _rows.Add(("while running: the history's details (ms)", Ms(read.Elapsed)));

        var page = await NewPageAsync();
        var (firstRow, live) = await OpenAsync(page, path, $"tr[data-task={taskId}]");
        _rows.Add(("while running: first task row (ms)", Ms(firstRow)));
        _rows.Add(("while running: live circuit (ms)", Ms(live)));
        await StartLongTaskObserverAsync(page);

        var latencies = new List<TimeSpan>();
        var watch = Stopwatch.StartNew();
        if (mapped)
        {
            await page.Locator($"tr[data-task={taskId}] a.by-dag-link").ClickAsync();
            await page.Locator("[data-testid=instances-page]").WaitForAsync();
            for (var i = 0; i < _options.Clicks; i++)
            {
                var button = i % 2 == 0 ? "instances-next" : "instances-previous";
                var before = await page.Locator("[data-testid=instances-page]").TextContentAsync();
                var clicked = Stopwatch.StartNew();
                await page.Locator($"[data-testid={button}]").ClickAsync();
                await page.WaitForFunctionAsync("t => document.querySelector('[data-testid=instances-page]')?.textContent !== t", before);
                latencies.Add(clicked.Elapsed);
            }
        }
        else
        {
            // Tasks among the rows the page shows (a large run shows a few hundred at a time).
            var shown = await page.Locator("[data-testid=task-table] tr[data-task]").EvaluateAllAsync<string[]>("rows => rows.map(r => r.getAttribute('data-task'))");
            if (shown.Length == 0)
            {
                throw new InvalidOperationException("the run page shows no task rows");
            }
            for (var i = 0; i < _options.Clicks; i++)
            {
                var target = shown[(i * 37) % shown.Length];
                var clicked = Stopwatch.StartNew();
                await page.Locator($"tr[data-task={target}] a.by-dag-link").ClickAsync();
                await page.Locator($"tr[data-task={target}].by-row-selected").WaitForAsync();
                latencies.Add(clicked.Elapsed);
            }
        }
        var window = watch.Elapsed;
        var stillRunning = (await runGrain.GetAsync())?.State.IsFinal() == false;
        var longTasks = await page.EvaluateAsync<double[]>("() => window.__longTasks");
        latencies.Sort();
        _rows.Add(("clicks measured while the run changed", stillRunning ? $"{latencies.Count} (run still running after them)" : $"{latencies.Count} (the run ended meanwhile)"));
        _rows.Add(("click to change shown: p50 (ms)", Ms(latencies[latencies.Count / 2])));
        _rows.Add(("click to change shown: max (ms)", Ms(latencies[^1])));
        _rows.Add(("browser long tasks in that window", $"{longTasks.Length}, {longTasks.Sum():0} ms of {window.TotalMilliseconds:0} ms busy, longest {(longTasks.Length == 0 ? 0 : longTasks.Max()):0} ms"));
        await page.CloseAsync();

        await WaitAsync(async () => (await runGrain.GetAsync())?.State.IsFinal() == true, TimeSpan.FromMinutes(30));
        var final = (await runGrain.GetAsync())!;
        _rows.Add(("run", $"{StateName(final.State)} in {Ms(final.EndedAt!.Value - final.StartedAt!.Value)} ms, {final.Tasks.Count(t => t.State == TaskState.Succeeded)} entries succeeded"));
        read.Restart();
        await runGrain.GetAsync();
        _rows.Add(("ended: the run grain's details (ms)", Ms(read.Elapsed)));
        read.Restart();
        await history.GetRunAsync(dagId, run.RunId);
        _rows.Add(("ended: the history's details (ms)", Ms(read.Elapsed)));
        var ended = await NewPageAsync();
        var (endedRow, endedLive) = await OpenAsync(ended, path, $"tr[data-task={taskId}]");
        _rows.Add(("ended: first task row (ms)", Ms(endedRow)));
        _rows.Add(("ended: live circuit (ms)", Ms(endedLive)));
        var dag = await NewPageAsync();
        var (graph, _) = await OpenAsync(dag, $"dags/{dagId}", $"[data-testid=dag-graph] g[data-task={taskId}]");
        _rows.Add(("DAG page: graph node (ms)", Ms(graph)));
        var (_, dagLive) = await OpenAsync(dag, $"dags/{dagId}", $"[data-testid=dag-graph] g[data-task={taskId}]");
        _rows.Add(("DAG page again: live circuit (ms)", Ms(dagLive)));
        await dag.CloseAsync();
        // The DAG page's grid and charts cover its last 20 runs: with 20 runs of this size.
        var more = new List<string>();
        for (var i = 0; i < 19; i++)
        {
            more.Add((await grains.GetGrain<IDagGrain>(dagId).TriggerAsync(new TriggerRequest())).RunId);
        }
        await WaitAsync(async () =>
        {
            foreach (var id in more)
            {
                if ((await grains.GetGrain<IDagRunGrain>(RunKeys.Run(dagId, id)).GetAsync())?.State.IsFinal() != true)
                {
                    return false;
                }
            }
            return true;
        }, TimeSpan.FromMinutes(30));
        var twenty = await NewPageAsync();
        var (graph20, live20) = await OpenAsync(twenty, $"dags/{dagId}", $"[data-testid=dag-graph] g[data-task={taskId}]");
        _rows.Add(("DAG page with 20 such runs: graph node / live circuit (ms)", $"{Ms(graph20)} / {Ms(live20)}"));
        _rows.Add(("RSS after (MiB)", (Process.GetCurrentProcess().WorkingSet64 / (1024 * 1024)).ToString(CultureInfo.InvariantCulture)));
        return _rows;
    }

    /// <summary>The DAG list: the API's answer, and the dashboard's first row and the count it shows.</summary>
    public async Task<List<(string Metric, string Value)>> MeasureDagListAsync()
    {
        using var http = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromMinutes(2) };
        foreach (var query in new[] { "api/v1/dags", "api/v1/dags?limit=100" })
        {
            var times = new List<TimeSpan>();
            long bytes = 0;
            for (var i = 0; i < 5; i++)
            {
                var watch = Stopwatch.StartNew();
                using var response = await http.GetAsync(new Uri(query, UriKind.Relative));
                var body = await response.Content.ReadAsByteArrayAsync();
                times.Add(watch.Elapsed);
                bytes = body.Length;
                if (!response.IsSuccessStatusCode)
                {
                    _rows.Add(($"GET /{query}", $"{(int)response.StatusCode}"));
                    break;
                }
            }
            times.Sort();
            _rows.Add(($"GET /{query}: median of 5 (ms), bytes", $"{Ms(times[times.Count / 2])}, {bytes}"));
        }
        var page = await NewPageAsync();
        var (firstRow, live) = await OpenAsync(page, "", "tr[data-dag]");
        _rows.Add(("DAG list: first row (ms)", Ms(firstRow)));
        _rows.Add(("DAG list: live circuit (ms)", Ms(live)));
        _rows.Add(("DAG list: rows in the page", (await page.Locator("tr[data-dag]").CountAsync()).ToString(CultureInfo.InvariantCulture)));
        _rows.Add(("DAG list: count it shows", (await page.Locator("[data-testid=dag-count], .by-page-head .by-muted").First.TextContentAsync())?.Trim() ?? "-"));
        _rows.Add(("RSS after (MiB)", (Process.GetCurrentProcess().WorkingSet64 / (1024 * 1024)).ToString(CultureInfo.InvariantCulture)));
        return _rows;
    }

    /// <summary>
    /// N every-minute DAGs: waits for the next slots, polling the API meanwhile, then reads each DAG's runs:
    /// how late each slot's run started after its slot, which slots made no run or more than one.
    /// </summary>
    public async Task<List<(string Metric, string Value)>> MeasureCronAsync()
    {
        using var http = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        var now = DateTimeOffset.UtcNow;
        var first = new DateTimeOffset(now.Year, now.Month, now.Day, now.Hour, now.Minute, 0, TimeSpan.Zero).AddMinutes(1);
        var slots = Enumerable.Range(0, _options.Slots).Select(k => first.AddMinutes(k)).ToList();
        _rows.Add(("slots measured", string.Join(", ", slots.Select(s => s.ToString("HH:mm", CultureInfo.InvariantCulture)))));
        // The API while the slots' bursts come and go: a page of DAGs and the health check, every 250 ms.
        var apiTimes = new List<double>();
        var apiSlowest = new List<(DateTimeOffset At, double Ms, double GcMs)>();
        var apiFailures = 0;
        var healthTimes = new List<double>();
        var until = slots[^1].AddSeconds(40);
        // GC pauses in the first second of each slot, while its runs begin: a pause there is lateness.
        var atSlots = Task.WhenAll(slots.Select(async slot =>
        {
            var wait = slot - DateTimeOffset.UtcNow;
            await Task.Delay(wait > TimeSpan.Zero ? wait : TimeSpan.Zero);
            var (pause, count) = (GC.GetTotalPauseDuration(), GC.CollectionCount(0));
            await Task.Delay(TimeSpan.FromSeconds(1));
            return (Slot: slot, Ms: (GC.GetTotalPauseDuration() - pause).TotalMilliseconds, Gcs: GC.CollectionCount(0) - count);
        }));
        while (DateTimeOffset.UtcNow < until)
        {
            var watch = Stopwatch.StartNew();
            var paused = GC.GetTotalPauseDuration();
            try
            {
                using var response = await http.GetAsync(new Uri("api/v1/dags?limit=100", UriKind.Relative));
                await response.Content.ReadAsByteArrayAsync();
                if (!response.IsSuccessStatusCode)
                {
                    apiFailures++;
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
                apiFailures++;
            }
            apiTimes.Add(watch.Elapsed.TotalMilliseconds);
            apiSlowest.Add((DateTimeOffset.UtcNow - watch.Elapsed, watch.Elapsed.TotalMilliseconds, (GC.GetTotalPauseDuration() - paused).TotalMilliseconds));
            // The health check touches no grain: when it is slow too, requests wait for the thread pool, not the registry.
            var health = Stopwatch.StartNew();
            try
            {
                using var answer = await http.GetAsync(new Uri("healthz", UriKind.Relative));
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
                apiFailures++;
            }
            healthTimes.Add(health.Elapsed.TotalMilliseconds);
            await Task.Delay(250);
        }
        apiTimes.Sort();
        // When the slowest answers were asked, against the nearest slot (a slot's begin burst, or its runs made ahead).
        string Offset(DateTimeOffset at)
        {
            var slot = slots.Concat(slots.Select(s => s.AddMinutes(-1))).OrderBy(s => Math.Abs((at - s).TotalMilliseconds)).First();
            return $"{(at - slot).TotalSeconds:+0.0;-0.0} s";
        }
        // With the time the process spent paused in GC while each was answered: a stall that is not GC is queueing.
        _rows.Add(("API: slowest five (ms at offset from a slot, GC pause)", string.Join(", ", apiSlowest.OrderByDescending(x => x.Ms).Take(5).Select(x => $"{x.Ms:0} at {Offset(x.At)} (GC {x.GcMs:0})"))));
        _rows.Add(("GC in each slot's first second (pause ms, GCs)", string.Join(", ", (await atSlots).Select(x => $"{x.Slot:HH:mm} {x.Ms:0} ms, {x.Gcs}"))));
        _rows.Add(("API during the bursts: p50 / max (ms), failed", $"{apiTimes[apiTimes.Count / 2]:0} / {apiTimes[^1]:0}, {apiFailures} of {apiTimes.Count + healthTimes.Count}"));
        healthTimes.Sort();
        _rows.Add(("  /healthz (no grain) meanwhile: p50 / max (ms)", $"{healthTimes[healthTimes.Count / 2]:0} / {healthTimes[^1]:0}"));

        var history = _app.Services.GetRequiredService<Batchyard.History.IRunHistoryStore>();
        var lateness = new List<double>();
        int missed = 0, doubled = 0, notStarted = 0;
        var ids = Enumerable.Range(0, _options.Dags).Select(i => $"dag-{i:00000}").ToList();
        foreach (var batch in ids.Chunk(200))
        {
            var lists = await Task.WhenAll(batch.Select(id => history.ListRunsAsync(id, null, null, 20)));
            foreach (var runs in lists)
            {
                foreach (var slot in slots)
                {
                    var atSlot = runs.Where(r => r.LogicalDate == slot).ToList();
                    missed += atSlot.Count == 0 ? 1 : 0;
                    doubled += atSlot.Count > 1 ? 1 : 0;
                    if (atSlot.FirstOrDefault() is { } run)
                    {
                        if (run.StartedAt is { } started)
                        {
                            lateness.Add((started - slot).TotalMilliseconds);
                        }
                        else
                        {
                            notStarted++;
                        }
                    }
                }
            }
        }
        lateness.Sort();
        double Pct(double p) => lateness.Count == 0 ? double.NaN : lateness[Math.Min(lateness.Count - 1, (int)Math.Ceiling(p * lateness.Count) - 1)];
        _rows.Add(("slot to run start: p50 / p99 / max (ms)", $"{Pct(0.50):0} / {Pct(0.99):0} / {Pct(1.0):0}  (goal p50 <= 100, p99 <= 1000)"));
        _rows.Add(("slots: runs started, missed, doubled, not started", $"{lateness.Count}, {missed}, {doubled}, {notStarted} of {ids.Count * slots.Count}"));
        _rows.Add(("RSS after (MiB)", (Process.GetCurrentProcess().WorkingSet64 / (1024 * 1024)).ToString(CultureInfo.InvariantCulture)));
        var status = Process.GetCurrentProcess();
        _rows.Add(("RSS peak (MiB)", (status.PeakWorkingSet64 / (1024 * 1024)).ToString(CultureInfo.InvariantCulture)));
        foreach (var other in _others)
        {
            _rows.Add(($"  {other.Name}: RSS after / peak (MiB)", other.Rss()));
        }
        if (_others.Count > 0)
        {
            // Where the grains live: DAG and run activations per silo.
            var stats = await _app.Services.GetRequiredService<IGrainFactory>().GetGrain<IManagementGrain>(0).GetSimpleGrainStatistics();
            var perSilo = stats.Where(x => x.GrainType.Contains("DagGrain", StringComparison.Ordinal) || x.GrainType.Contains("DagRunGrain", StringComparison.Ordinal))
                .GroupBy(x => x.SiloAddress.ToString())
                .Select(g => $"{g.Key}: {string.Join(", ", g.Select(x => $"{TypeName(x.GrainType)} {x.ActivationCount}"))}");
            _rows.Add(("  activations per silo", string.Join("; ", perSilo)));
        }
        return _rows;
    }

    /// <summary>"Batchyard.Runs.DagRunGrain,Batchyard.Grains" → "DagRunGrain".</summary>
    private static string TypeName(string grainType)
    {
        var type = grainType.Split(',')[0];
        return type[(type.LastIndexOf('.') + 1)..];
    }

    private async Task<IPage> NewPageAsync()
    {
        var page = await _browser.NewPageAsync(new BrowserNewPageOptions { BaseURL = BaseAddress.ToString(), ViewportSize = new ViewportSize { Width = 1440, Height = 1000 } });
        page.SetDefaultTimeout(120_000);
        return page;
    }

    /// <summary>Navigates and times the first <paramref name="selector"/> (the prerendered page) and the live circuit.</summary>
    private static async Task<(TimeSpan First, TimeSpan Live)> OpenAsync(IPage page, string path, string selector)
    {
        var watch = Stopwatch.StartNew();
        await page.GotoAsync(path, new PageGotoOptions { WaitUntil = WaitUntilState.Commit });
        await page.Locator(selector).First.WaitForAsync();
        var first = watch.Elapsed;
        await page.Locator("[data-testid=interactive]").WaitForAsync(new LocatorWaitForOptions { State = WaitForSelectorState.Attached });
        return (first, watch.Elapsed);
    }

    private static Task StartLongTaskObserverAsync(IPage page) => page.EvaluateAsync("""
        () => {
          window.__longTasks = [];
          new PerformanceObserver(list => { for (const e of list.getEntries()) window.__longTasks.push(e.duration); })
            .observe({ type: 'longtask', buffered: false });
        }
        """);

    private static async Task WaitAsync(Func<Task<bool>> condition, TimeSpan timeout)
    {
        var watch = Stopwatch.StartNew();
        while (!await condition())
        {
            if (watch.Elapsed > timeout)
            {
                throw new TimeoutException($"not reached within {timeout}");
            }
            await Task.Delay(100);
        }
    }

    private static string Ms(TimeSpan span) => span.TotalMilliseconds.ToString("0", CultureInfo.InvariantCulture);

    private static string StateName(RunState state) => System.Text.Json.JsonNamingPolicy.SnakeCaseLower.ConvertName(state.ToString());

    private static string MappedDag(int items, int maxActive)
    {
        var list = new StringBuilder();
        for (var i = 0; i < items; i++)
        {
            list.Append(i == 0 ? "" : ", ").Append(CultureInfo.InvariantCulture, $"s{i}");
        }
        return $"""
            id: mapped
            defaults: {"{"} backend: noop {"}"}
            flow: score >> report
            tasks:
              score:
                map:
                  over: [{list}]
                  max_active: {maxActive}
                command: [score, "{"{{"} item {"}}"}"]
              report:
                command: [report]
            """;
    }

    private static string WideDag(int width)
    {
        var text = new StringBuilder("id: wide\ndefaults: { backend: noop }\ntasks:\n  start:\n    command: [start]\n");
        for (var i = 0; i < width; i++)
        {
            text.Append(CultureInfo.InvariantCulture, $"  w{i}:\n    depends_on: [start]\n    command: [work]\n");
        }
        return text.ToString();
    }

    private static string ListedDag(int i, string schedule) => $"""
        id: dag-{i:00000}
        description: listed DAG {i}
        owner: team-{i % 20}
        tags: [t{i % 7}]
        schedule: "{schedule}"
        defaults: {"{"} backend: noop {"}"}
        tasks:
          only:
            command: [noop]
        """;

    public async ValueTask DisposeAsync()
    {
        foreach (var other in _others)
        {
            await other.DisposeAsync();
        }
        await _browser.DisposeAsync();
        _playwright.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
        Directory.Delete(_root, recursive: true);
    }
}

/// <summary>Another silo of the cluster: the built Batchyard.Silo beside this bench, in its own process, on PostgreSQL.</summary>
internal sealed class ChildSilo : IAsyncDisposable
{
    private readonly Process _process;
    private readonly Queue<string> _tail = new();

    private ChildSilo(string name, Process process, Uri address)
    {
        Name = name;
        _process = process;
        Address = address;
        process.OutputDataReceived += (_, e) => Keep(e.Data);
        process.ErrorDataReceived += (_, e) => Keep(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public string Name { get; }

    public Uri Address { get; }

    public static ChildSilo Start(string name, string connection, string dags, string data)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "Batchyard.Silo.dll");
        var http = Batchyard.Testing.FreePorts.Next();
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = AppContext.BaseDirectory };
        start.ArgumentList.Add(dll);
        start.Environment["DOTNET_ENVIRONMENT"] = "Development";
        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Development";
        start.Environment["Urls"] = $"http://127.0.0.1:{http}";
        start.Environment["Batchyard__Storage"] = "Postgres";
        start.Environment["ConnectionStrings__Postgres"] = connection;
        start.Environment["Batchyard__AdvertisedAddress"] = "127.0.0.1";
        start.Environment["Batchyard__DagsFolder"] = dags;
        start.Environment["Batchyard__DataFolder"] = data;
        start.Environment["Batchyard__SiloPort"] = Batchyard.Testing.FreePorts.Next().ToString(CultureInfo.InvariantCulture);
        start.Environment["Batchyard__GatewayPort"] = Batchyard.Testing.FreePorts.Next().ToString(CultureInfo.InvariantCulture);
        start.Environment["Batchyard__GrpcUrl"] = $"http://127.0.0.1:{Batchyard.Testing.FreePorts.Next()}";
        start.Environment["Logging__LogLevel__Default"] = "Warning";
        var process = Process.Start(start) ?? throw new InvalidOperationException("dotnet did not start");
        return new ChildSilo(name, process, new Uri($"http://127.0.0.1:{http}/"));
    }

    public async Task WaitReadyAsync(TimeSpan timeout)
    {
        using var http = new HttpClient { BaseAddress = Address, Timeout = TimeSpan.FromSeconds(10) };
        var watch = Stopwatch.StartNew();
        while (true)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"{Name} exited with {_process.ExitCode}:\n{Tail()}");
            }
            try
            {
                using var answer = await http.GetAsync(new Uri("readyz", UriKind.Relative));
                if (answer.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
                // Not listening yet.
            }
            if (watch.Elapsed > timeout)
            {
                throw new TimeoutException($"{Name} not ready within {timeout}:\n{Tail()}");
            }
            await Task.Delay(250);
        }
    }

    /// <summary>VmRSS and VmHWM of the process, in MiB.</summary>
    public string Rss()
    {
        try
        {
            var status = File.ReadAllLines($"/proc/{_process.Id}/status");
            string Field(string name) => (long.Parse(status.First(l => l.StartsWith(name, StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024).ToString(CultureInfo.InvariantCulture);
            return $"{Field("VmRSS:")} / {Field("VmHWM:")}";
        }
        catch (IOException)
        {
            return "exited";
        }
    }

    private void Keep(string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (_tail)
        {
            _tail.Enqueue(line);
            while (_tail.Count > 40)
            {
                _tail.Dequeue();
            }
        }
    }

    private string Tail()
    {
        lock (_tail)
        {
            return string.Join('\n', _tail);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            using (var term = Process.Start("kill", ["-TERM", _process.Id.ToString(CultureInfo.InvariantCulture)]))
            {
                await term.WaitForExitAsync();
            }
            using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            try
            {
                await _process.WaitForExitAsync(wait.Token);
            }
            catch (OperationCanceledException)
            {
                _process.Kill(entireProcessTree: true);
            }
        }
        _process.Dispose();
    }
}
