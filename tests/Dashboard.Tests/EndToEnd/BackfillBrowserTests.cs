using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Batchyard.Dashboard.Tests.EndToEnd;

/// <summary>The DAG page's Backfill dialog and backfills card in Chromium (one check: browser tests are slow here).</summary>
public sealed partial class DashboardBrowserTests
{
    [Fact]
    public async Task DagPage_BackfillFromTheDialog_ItsProgressReachesSucceededWithoutAReload()
    {
        var page = await host.OpenAsync("dags/quick");
        await page.Locator("[data-testid=backfill]").ClickAsync();
        var dialog = page.Locator(".mud-dialog");
        await Expect(dialog).ToContainTextAsync("Backfill quick");
        await dialog.Locator("[data-testid=backfill-from] input").FillAsync("2026-01-01");
        await dialog.Locator("[data-testid=backfill-to] input").FillAsync("2026-01-02");
        await dialog.Locator("[data-testid=backfill-confirm]").ClickAsync();

        // 03:00 in Tokyo is 18:00 UTC the day before: January 1 and 2 (UTC, whole days) hold two slots.
        var row = page.Locator("[data-testid=backfill-table] tr[data-backfill]");
        await Expect(row).ToHaveCountAsync(1);
        await Expect(row.Locator("td[data-count=total]")).ToHaveTextAsync("2");
        await Expect(row).ToHaveAttributeAsync("data-state", "succeeded", RunLong);
        await Expect(row.Locator("td[data-count=succeeded]")).ToHaveTextAsync("2");
        await DashboardHost.ScreenshotAsync(page, "backfills");
    }
}
