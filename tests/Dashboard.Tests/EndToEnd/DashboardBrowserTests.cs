using System.Collections.Immutable;
using System.Net;
using System.Text.RegularExpressions;
using Batchyard.Grains;
using Batchyard.History;
using Batchyard.Runs;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Batchyard.Dashboard.Tests.EndToEnd;

/// <summary>The dashboard in Chromium against the real host: every change arrives without a reload.</summary>
public sealed partial class DashboardBrowserTests(DashboardHost host) : IClassFixture<DashboardHost>
{
    private static readonly LocatorAssertionsToHaveAttributeOptions RunLong = new() { Timeout = 60_000 };

    [Theory]
    [InlineData("_content/MudBlazor/MudBlazor.min.css")]
    [InlineData("_content/MudBlazor/MudBlazor.min.js")]
    [InlineData("_framework/blazor.web.js")]
    [InlineData("_content/Batchyard.Dashboard/dashboard.css")]
    public async Task StaticAssets_AnswerOk(string path)
    {
        using var http = new HttpClient { BaseAddress = host.BaseAddress };

        using var response = await http.GetAsync(new Uri(path, UriKind.Relative));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task DagList_TriggerFromTheDialog_RunSucceedsOnTheRunPageWithoutAReload()
    {
        var page = await host.OpenAsync("");
        var row = page.Locator("tr[data-dag=quick]");
        await Expect(row).ToContainTextAsync("every day at 03:00 Asia/Tokyo");
        await DashboardHost.ScreenshotAsync(page, "1-dags");

        await row.Locator("[data-testid=trigger]").ClickAsync();
        var dialog = page.Locator(".mud-dialog");
        await Expect(dialog).ToContainTextAsync("Trigger quick");
        await dialog.Locator("[data-testid=param-greeting] input").FillAsync("from-the-dialog");
        await dialog.Locator("[data-testid=logical-date] input").FillAsync("2026-11-20T03:00:00Z");
        await DashboardHost.ScreenshotAsync(page, "2-trigger-dialog");
        await dialog.Locator("[data-testid=trigger-confirm]").ClickAsync();

        await page.WaitForURLAsync(RunPageUrl());
        // A reload would wipe this flag: the run's progress must arrive over the circuit.
        await page.EvaluateAsync("() => window.__sameDocument = true");
        await Expect(page.Locator("[data-testid=run-state]")).ToHaveAttributeAsync("data-state", "succeeded", RunLong);
        Assert.True(await page.EvaluateAsync<bool>("() => window.__sameDocument === true"));
        await Expect(page.Locator("tr[data-task=first]")).ToHaveAttributeAsync("data-state", "succeeded");
        await Expect(page.Locator("tr[data-task=second]")).ToHaveAttributeAsync("data-state", "succeeded");
        await Expect(page.Locator("body")).ToContainTextAsync("2026-11-20 03:00:00 UTC");

        await page.Locator("tr[data-task=first] [data-testid=show-log]").ClickAsync();
        await Expect(page.Locator("[data-testid=log-panel][data-task=first] [data-testid=log-text]")).ToContainTextAsync("greeting=from-the-dialog");
        await Expect(page.Locator("[data-testid=gantt] [data-task=first] [data-kind=Running]")).ToHaveCountAsync(1);
        // Local compute is not priced here: the run costs 0.00 USD, and the attempt says what it used.
        await Expect(page.Locator("[data-testid=run-cost]")).ToContainTextAsync("0.00 USD");
        await Expect(page.Locator("[data-testid=attempt-cost]")).ToContainTextAsync("0.00 USD");
        await Expect(page.Locator("[data-testid=attempt-cost-basis]")).ToContainTextAsync(new Regex("cpu-s|not measured"));
        await DashboardHost.ScreenshotAsync(page, "3-run-succeeded");

        await page.Locator("a:has-text('quick')").First.ClickAsync();
        await page.WaitForURLAsync(new Regex("/dags/quick$"));
        await Expect(page.Locator("[data-testid=dag-graph] g[data-task=second]")).ToHaveAttributeAsync("data-state", "succeeded");
        await Expect(page.Locator("[data-testid=run-grid] a.by-grid-square")).ToHaveCountAsync(2);
        await Expect(page.Locator("[data-testid=dag-source]")).ToContainTextAsync("flow: first >> second");
        await DashboardHost.ScreenshotAsync(page, "4-dag");

        await page.Locator(".mud-nav-link:has-text('DAGs')").ClickAsync();
        await Expect(page.Locator("tr[data-dag=quick] .by-recent [data-state=succeeded]")).ToHaveCountAsync(1);
        await DashboardHost.ScreenshotAsync(page, "1b-dags-with-runs");
    }

    [Fact]
    public async Task RunAndDagPages_KeepThePrerenderedContentWhileTheCircuitConnects()
    {
        var grains = host.Services.GetRequiredService<IGrainFactory>();
        var run = await grains.GetGrain<IDagGrain>("quick").TriggerAsync(new TriggerRequest());
        var runGrain = grains.GetGrain<IDagRunGrain>(RunKeys.Run("quick", run.RunId));
        for (var i = 0; i < 600 && (await runGrain.GetAsync())?.State.IsFinal() != true; i++)
        {
            await Task.Delay(100);
        }

        await AssertNeverDropsAsync($"dags/quick/runs/{Uri.EscapeDataString(run.RunId)}", "[data-testid=task-table] tr[data-task]");
        await AssertNeverDropsAsync("dags/quick", "[data-testid=dag-graph] g[data-task]");
    }

    /// <summary>From the first byte on: once the page shows <paramref name="selector"/>, does it ever show none (a loading state in between)?</summary>
    private async Task AssertNeverDropsAsync(string path, string selector)
    {
        var page = await host.OpenAsync("about:blank", waitInteractive: false);
        await DashboardHost.WatchForDropsAsync(page, selector);
        await page.GotoAsync(path);
        await Expect(page.Locator(selector).First).ToBeVisibleAsync();
        await DashboardHost.WaitInteractiveAsync(page);
        // The interactive render reads the page's data again: let it answer and render.
        await page.WaitForTimeoutAsync(1000);

        var (seen, dropped) = await DashboardHost.DroppedAsync(page);
        Assert.True(seen, path);
        Assert.False(dropped, $"{path}: {selector} went away while the circuit connected");
        await Expect(page.Locator(selector).First).ToBeVisibleAsync();
        await page.CloseAsync();
    }

    [Fact]
    public async Task RunPage_RunningTask_LogFollowsLiveAndTheRunCanBeCancelled()
    {
        var run = await host.Services.GetRequiredService<IGrainFactory>().GetGrain<IDagGrain>("slow").TriggerAsync(new TriggerRequest());
        var page = await host.OpenAsync($"dags/slow/runs/{run.RunId}");

        await Expect(page.Locator("tr[data-task=tick]")).ToHaveAttributeAsync("data-state", "running", RunLong);
        await page.Locator("tr[data-task=tick] [data-testid=show-log]").ClickAsync();
        await Expect(page.Locator("[data-testid=log-following]")).ToBeVisibleAsync();
        // Output written after the page opened shows up by itself.
        await Expect(page.Locator("[data-testid=log-text]")).ToContainTextAsync("tick 8", new() { Timeout = 30_000 });
        await DashboardHost.ScreenshotAsync(page, "5-run-following-log");

        await page.Locator("[data-testid=cancel-run]").ClickAsync();
        await page.Locator(".mud-dialog button:has-text('Cancel run')").ClickAsync();

        await Expect(page.Locator("[data-testid=run-state]")).ToHaveAttributeAsync("data-state", "cancelled", RunLong);
        await Expect(page.Locator("tr[data-task=tick]")).ToHaveAttributeAsync("data-state", "cancelled");
        await Expect(page.Locator("[data-testid=cancel-run]")).ToBeDisabledAsync();
        await DashboardHost.ScreenshotAsync(page, "6-run-cancelled");
    }

    [Fact]
    public async Task RunPage_ClearingAFailedTask_RunsItAndItsDownstreamAgain()
    {
        var run = await host.Services.GetRequiredService<IGrainFactory>().GetGrain<IDagGrain>("failing").TriggerAsync(new TriggerRequest());
        var page = await host.OpenAsync($"dags/failing/runs/{run.RunId}");

        await Expect(page.Locator("[data-testid=run-state]")).ToHaveAttributeAsync("data-state", "failed", RunLong);
        await Expect(page.Locator("tr[data-task=after]")).ToHaveAttributeAsync("data-state", "upstream_failed");
        await Expect(page.Locator("tr[data-task=broken]")).ToContainTextAsync("exit 3");
        await DashboardHost.ScreenshotAsync(page, "7-run-failed");

        await File.WriteAllTextAsync(TestDags.FixedMarker(host.Root), "");
        await page.Locator("tr[data-task=broken] [data-testid=clear-task]").ClickAsync();

        await Expect(page.Locator("[data-testid=run-state]")).ToHaveAttributeAsync("data-state", "succeeded", RunLong);
        await Expect(page.Locator("tr[data-task=after]")).ToHaveAttributeAsync("data-state", "succeeded");
        await Expect(page.Locator("tr[data-task=broken] td").Nth(2)).ToHaveTextAsync("2");
        await DashboardHost.ScreenshotAsync(page, "8-run-cleared");
    }

    [Fact]
    public async Task ClusterPage_ShowsTheActiveSiloAndEachBackendAsItDescribesItself()
    {
        var page = await host.OpenAsync("cluster");

        await Expect(page.Locator("[data-testid=silo-table]")).ToContainTextAsync("active");
        await Expect(page.Locator("[data-backend=local]")).ToContainTextAsync("isolation");
        await Expect(page.Locator("[data-backend=noop]")).ToHaveAttributeAsync("data-status", "ok");
        await Expect(page.Locator("[data-backend=sagemaker]")).ToHaveAttributeAsync("data-status", new Regex("^(ok|degraded|unavailable)$"));
        await DashboardHost.ScreenshotAsync(page, "9-cluster");
    }

    [Fact]
    public async Task CostsPage_GroupsTheMonthsAttemptsByDag_AndOneDagByDayBesideItsBudget()
    {
        var grains = host.Services.GetRequiredService<IGrainFactory>();
        var run = await grains.GetGrain<IDagGrain>("billed").TriggerAsync(new TriggerRequest());
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while ((await grains.GetGrain<IDagRunGrain>(RunKeys.Run("billed", run.RunId)).GetAsync())?.State.IsFinal() != true && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
        }

        // The page reads the cost projection, which the journal feeds just after the run's end: wait for it, so
        // a loaded machine's lag is not read as a missing row (the page does not re-query by itself).
        var history = host.Services.GetRequiredService<IRunHistoryStore>();
        var month = new DateTimeOffset(DateTimeOffset.UtcNow.Year, DateTimeOffset.UtcNow.Month, 1, 0, 0, 0, TimeSpan.Zero);
        while (!(await history.SumCostsAsync(month, month.AddMonths(1))).Any(c => c.DagId == "billed") && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
        }

        Assert.Contains(await history.SumCostsAsync(month, month.AddMonths(1)), c => c.DagId == "billed");
        var page = await host.OpenAsync("costs?by=dag");
        var row = page.Locator("[data-testid=costs-table] tr", new() { Has = page.Locator("[data-testid=costs-key]", new() { HasText = "billed" }) });
        await Expect(row).ToBeVisibleAsync();
        await Expect(page.Locator("[data-testid=costs-total]")).ToContainTextAsync(DateTimeOffset.UtcNow.ToString("yyyy-MM", System.Globalization.CultureInfo.InvariantCulture));
        await DashboardHost.ScreenshotAsync(page, "10-costs");

        // A DAG's row leads to its month by day, with its budget as a line beside the running sum.
        await row.Locator("a").ClickAsync();
        await page.WaitForURLAsync(new Regex("costs\\?month=.*&by=day&dag=billed$"));
        await Expect(page.Locator("[data-testid=costs-budget]")).ToContainTextAsync("Budget $100 a month");
        await Expect(page.Locator("[data-testid=costs-chart]")).ToHaveAttributeAsync("data-budget-line", "true");
        await Expect(page.Locator("[data-testid=costs-chart]")).ToHaveAttributeAsync("data-points", DateTimeOffset.UtcNow.Day.ToString(System.Globalization.CultureInfo.InvariantCulture));
        await Expect(page.Locator("[data-testid=costs-key]").First).ToContainTextAsync(DateTimeOffset.UtcNow.ToString("yyyy-MM-", System.Globalization.CultureInfo.InvariantCulture));

        var dagPage = await host.OpenAsync("dags/billed");
        await Expect(dagPage.Locator("[data-testid=dag-budget]")).ToContainTextAsync("of $100 this month");
    }

    [Fact]
    public async Task DagList_PauseToggle_StopsTheSchedule()
    {
        var page = await host.OpenAsync("");
        var row = page.Locator("tr[data-dag=quick]");

        await row.Locator("[data-testid=pause-toggle] input").ClickAsync();

        await Expect(row).ToContainTextAsync("paused");
        var info = await host.Services.GetRequiredService<IGrainFactory>().GetGrain<IDagGrain>("quick").GetAsync();
        Assert.True(info!.Paused);
        await row.Locator("[data-testid=pause-toggle] input").ClickAsync();
        await Expect(row).Not.ToContainTextAsync("paused");
    }

    [Fact]
    public async Task MappedTask_OneRowAndOneNodeWithCountsByState_AndAPanelOfItsInstancesWithLogsAndOutputs()
    {
        var run = await host.Services.GetRequiredService<IGrainFactory>().GetGrain<IDagGrain>("mapped").TriggerAsync(new TriggerRequest());
        var page = await host.OpenAsync($"dags/mapped/runs/{run.RunId}");

        await Expect(page.Locator("[data-testid=run-state]")).ToHaveAttributeAsync("data-state", "failed", RunLong);
        var row = page.Locator("tr[data-task=score]");
        await Expect(row).ToHaveAttributeAsync("data-state", "failed");
        await Expect(row.Locator("[data-testid=map-summary]")).ToHaveTextAsync("60 instances: 59 succeeded · 1 failed");
        await Expect(page.Locator("tr[data-task=report]")).ToHaveAttributeAsync("data-state", "upstream_failed");
        // One row per task of the DAG, in the table and in the timeline: the instances are in the panel.
        await Expect(page.Locator("[data-testid=task-table] > tbody > tr")).ToHaveCountAsync(2);
        await Expect(page.Locator("[data-testid=gantt] [data-task=score]")).ToHaveCountAsync(1);

        await row.Locator("a.by-dag-link").ClickAsync();
        var panel = page.Locator("[data-testid=instances]");
        await Expect(panel).ToContainTextAsync("score: 60 instances");
        await Expect(panel.Locator("[data-testid=instances-page]")).ToHaveTextAsync("1–50 of 60");
        await Expect(panel.Locator("tr[data-instance]")).ToHaveCountAsync(50);
        await Expect(panel.Locator("tr[data-instance='3']")).ToContainTextAsync("{\"shard\":\"s03\"}");
        await panel.Locator("[data-testid=instances-next]").ClickAsync();
        await Expect(panel.Locator("[data-testid=instances-page]")).ToHaveTextAsync("51–60 of 60");
        await Expect(panel.Locator("tr[data-instance]")).ToHaveCountAsync(10);
        await Expect(panel.Locator("tr[data-instance='59']")).ToContainTextAsync("s59");
        await DashboardHost.ScreenshotAsync(page, "10-mapped-instances");

        await panel.Locator("[data-testid=filter-failed]").ClickAsync();
        await Expect(panel.Locator("[data-testid=instances-page]")).ToHaveTextAsync("1–1 of 1");
        var broken = panel.Locator("tr[data-instance]");
        await Expect(broken).ToHaveAttributeAsync("data-instance", "7");
        await broken.Locator("[data-testid=instance-link]").ClickAsync();
        await Expect(page.Locator("[data-testid=log-panel][data-task='score[7]'] [data-testid=log-text]")).ToContainTextAsync("shard s07 is corrupt");
        await panel.Locator("[data-testid=filter-succeeded]").ClickAsync();
        await Expect(panel.Locator("[data-testid=instances-page]")).ToHaveTextAsync("1–50 of 59");
        await DashboardHost.ScreenshotAsync(page, "11-mapped-instance-log");

        var dag = await host.OpenAsync("dags/mapped");
        var node = dag.Locator("[data-testid=dag-graph] g[data-task=score]");
        await Expect(node).ToHaveAttributeAsync("data-counts", "succeeded:59 failed:1");
        await Expect(node).ToContainTextAsync("60 ×, 59 succeeded");
        await Expect(dag.Locator("[data-testid=dag-graph] g[data-task=report]")).ToHaveAttributeAsync("data-state", "upstream_failed");
        await DashboardHost.ScreenshotAsync(dag, "12-mapped-graph");
        // The live page opens the run once it has read its runs; a click before that (a busy machine) does nothing.
        var runPage = new Regex("/dags/mapped/runs/[^/?]+\\?task=score$");
        for (var tries = 1; !runPage.IsMatch(dag.Url); tries++)
        {
            await node.ClickAsync();
            try
            {
                await dag.WaitForURLAsync(runPage, new() { Timeout = 5_000, WaitUntil = WaitUntilState.Commit });
            }
            catch (TimeoutException) when (tries < 6)
            {
                // Not yet: click again.
            }
        }
        await Expect(dag.Locator("[data-testid=instances]")).ToContainTextAsync("score: 60 instances");
    }

    [GeneratedRegex("/dags/quick/runs/[^/?]+$")]
    private static partial Regex RunPageUrl();
}
