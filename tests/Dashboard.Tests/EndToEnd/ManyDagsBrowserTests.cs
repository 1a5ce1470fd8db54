using System.Diagnostics;
using Microsoft.Playwright;
using Xunit.Abstractions;
using static Microsoft.Playwright.Assertions;

namespace Batchyard.Dashboard.Tests.EndToEnd;

/// <summary>The DAG list in Chromium with a folder of 2,000 DAGs: one page of rows, the server's counts and search.</summary>
public sealed class ManyDagsBrowserTests(ManyDagsHost host, ITestOutputHelper output) : IClassFixture<ManyDagsHost>
{
    [Fact]
    public async Task DagList_TwoThousandDags_ShowsTheFirstPageWithRightCountsAndSearchesOnTheServer()
    {
        var page = await FirstRowAsync("the host's first page");
        await FirstRowAsync("a second page");

        await Expect(page.Locator("tr[data-dag]")).ToHaveCountAsync(50);
        await Expect(page.Locator("[data-testid=dag-counts]")).ToHaveTextAsync("2000 DAGs · 0 running now · 0 paused");
        await Expect(page.Locator("[data-testid=dag-pager]")).ToContainTextAsync("1–50 of 2000");
        await Expect(page.Locator("tr[data-dag]").Last).ToHaveAttributeAsync("data-dag", "gen-0049");

        await DashboardHost.WaitInteractiveAsync(page);
        await page.GetByPlaceholder("Search DAGs").FillAsync("Churn");

        // The search goes to the server after the field's debounce: on a loaded machine (the whole suite at once) that
        // takes longer than the assertions' default 5 s.
        await Expect(page.Locator("[data-testid=dag-matching]")).ToHaveTextAsync(" · 200 matches", new() { Timeout = 30_000 });
        await Expect(page.Locator("tr[data-dag]")).ToHaveCountAsync(50);
        await Expect(page.Locator("tr[data-dag]").Nth(1)).ToHaveAttributeAsync("data-dag", "gen-0010");
        await Expect(page.Locator("[data-testid=dag-pager]")).ToContainTextAsync("1–50 of 200");
        await DashboardHost.ScreenshotAsync(page, "dag-list-2000");
    }

    [Fact]
    public async Task DagList_KeepsThePrerenderedRowsWhileTheCircuitConnects()
    {
        var page = await host.Browser.NewPageAsync(new BrowserNewPageOptions { BaseURL = host.BaseAddress.ToString(), ViewportSize = new ViewportSize { Width = 1440, Height = 1000 } });
        page.SetDefaultTimeout(30_000);
        // From the first byte on: once rows are shown, does the list ever show none (a loading state in between)?
        await DashboardHost.WatchForDropsAsync(page, "tr[data-dag]");
        await page.GotoAsync("/");
        await Expect(page.Locator("tr[data-dag=gen-0000]")).ToBeVisibleAsync();
        await DashboardHost.WaitInteractiveAsync(page);
        // The interactive render asks for the page again: let it answer and render.
        await page.WaitForTimeoutAsync(1000);

        var (seen, dropped) = await DashboardHost.DroppedAsync(page);
        Assert.True(seen);
        Assert.False(dropped, "the rows went away while the circuit connected");
        await Expect(page.Locator("tr[data-dag]")).ToHaveCountAsync(50);
        await Expect(page.Locator("[data-testid=dag-counts]")).ToHaveTextAsync("2000 DAGs · 0 running now · 0 paused");
    }

    /// <summary>A new page at <c>/</c>, timed from the request until its first row is visible (not until scripts load).</summary>
    private async Task<IPage> FirstRowAsync(string which)
    {
        var page = await host.Browser.NewPageAsync(new BrowserNewPageOptions { BaseURL = host.BaseAddress.ToString(), ViewportSize = new ViewportSize { Width = 1440, Height = 1000 } });
        page.SetDefaultTimeout(30_000);
        var clock = Stopwatch.StartNew();
        await page.GotoAsync("/", new PageGotoOptions { WaitUntil = WaitUntilState.Commit });
        await Expect(page.Locator("tr[data-dag=gen-0000]")).ToBeVisibleAsync();
        output.WriteLine($"{which}: first row visible {clock.ElapsedMilliseconds} ms after the request");
        return page;
    }
}
