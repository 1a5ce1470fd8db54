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
        var clock = Stopwatch.StartNew();
        var page = await host.OpenAsync("/", waitInteractive: false);
        await Expect(page.Locator("tr[data-dag=gen-0000]")).ToBeVisibleAsync();
        output.WriteLine($"first row after {clock.ElapsedMilliseconds} ms (first page of this host)");
        clock.Restart();
        var again = await host.OpenAsync("/", waitInteractive: false);
        await Expect(again.Locator("tr[data-dag=gen-0000]")).ToBeVisibleAsync();
        output.WriteLine($"first row after {clock.ElapsedMilliseconds} ms (a second page)");

        await Expect(page.Locator("tr[data-dag]")).ToHaveCountAsync(50);
        await Expect(page.Locator("[data-testid=dag-counts]")).ToHaveTextAsync("2000 DAGs · 0 running now · 0 paused");
        await Expect(page.Locator("[data-testid=dag-pager]")).ToContainTextAsync("1–50 of 2000");
        await Expect(page.Locator("tr[data-dag]").Last).ToHaveAttributeAsync("data-dag", "gen-0049");

        await DashboardHost.WaitInteractiveAsync(page);
        await page.GetByPlaceholder("Search DAGs").FillAsync("Churn");

        await Expect(page.Locator("[data-testid=dag-matching]")).ToHaveTextAsync(" · 200 matches");
        await Expect(page.Locator("tr[data-dag]")).ToHaveCountAsync(50);
        await Expect(page.Locator("tr[data-dag]").Nth(1)).ToHaveAttributeAsync("data-dag", "gen-0010");
        await Expect(page.Locator("[data-testid=dag-pager]")).ToContainTextAsync("1–50 of 200");
        await DashboardHost.ScreenshotAsync(page, "dag-list-2000");
    }
}
