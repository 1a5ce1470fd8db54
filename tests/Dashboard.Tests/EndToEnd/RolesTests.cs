using System.Text.RegularExpressions;
using Batchyard.Dashboard.Hosting;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Batchyard.Dashboard.Tests.EndToEnd;

/// <summary>The dashboard signs in with any key, shows what its tags allow and hides what its role may not do; its cookie is locked down.</summary>
public sealed class RolesTests(RolesDashboardHost host) : IClassFixture<RolesDashboardHost>
{
    private async Task<IPage> SignInAsync(string key, string path = "dags")
    {
        var page = await host.OpenAsync(path, waitInteractive: false);
        await page.WaitForURLAsync(new Regex("/login\\?returnUrl="));
        await page.Locator("#key").FillAsync(key);
        await page.Locator("button[type=submit]").ClickAsync();
        // The redirect's page may take long to load on a machine busy with the whole suite; its URL is what counts here.
        await page.WaitForURLAsync(new Regex(Regex.Escape(path) + "$"), new() { WaitUntil = WaitUntilState.Commit, Timeout = 90_000 });
        await DashboardHost.WaitInteractiveAsync(page);
        return page;
    }

    [Fact]
    public async Task Viewer_SeesEveryDag_WithoutTriggerOrPauseButtons()
    {
        var page = await SignInAsync(RolesDashboardHost.ViewerKey);

        await Expect(page.Locator("tr[data-dag=quick]")).ToBeVisibleAsync();
        await Expect(page.Locator("tr[data-dag=slow]")).ToBeVisibleAsync();
        await Expect(page.Locator("[data-testid=pause-state]").First).ToBeVisibleAsync();
        Assert.Equal(0, await page.Locator("[data-testid=trigger]").CountAsync());
        Assert.Equal(0, await page.Locator("[data-testid=pause-toggle]").CountAsync());
        await DashboardHost.ScreenshotAsync(page, "roles-viewer");
    }

    [Fact]
    public async Task Viewer_OnADagPage_SeesItsBackfills_WithoutBackfillOrTriggerButtons()
    {
        var page = await SignInAsync(RolesDashboardHost.ViewerKey, "dags/quick");

        await Expect(page.Locator("[data-testid=backfills]")).ToBeVisibleAsync();
        await Expect(page.Locator("[data-testid=pause-state]")).ToBeVisibleAsync();
        Assert.Equal(0, await page.Locator("[data-testid=backfill]").CountAsync());
        Assert.Equal(0, await page.Locator("[data-testid=trigger]").CountAsync());
    }

    [Fact]
    public async Task TeamOperator_SeesOnlyItsTaggedDags_AndMayTriggerThem()
    {
        var page = await SignInAsync(RolesDashboardHost.TeamKey);

        await Expect(page.Locator("tr[data-dag=slow]")).ToBeVisibleAsync();
        Assert.Equal(0, await page.Locator("tr[data-dag=quick]").CountAsync());
        Assert.Equal(0, await page.Locator("tr[data-dag=failing]").CountAsync());
        await Expect(page.Locator("tr[data-dag=slow] [data-testid=trigger]")).ToBeVisibleAsync();
    }

    [Fact]
    public async Task SessionCookie_IsHttpOnlyAndSameSiteStrict_AndSecureOverHttps()
    {
        var page = await SignInAsync(RolesDashboardHost.ViewerKey);

        var cookie = Assert.Single(await page.Context.CookiesAsync(), c => c.Name == "batchyard_dashboard");
        Assert.True(cookie.HttpOnly);
        Assert.Equal(SameSiteAttribute.Strict, cookie.SameSite);
        // Plain HTTP here: not Secure, which the browser would refuse to send back; over HTTPS it is.
        Assert.False(cookie.Secure);
        var options = host.Services.GetRequiredService<IOptionsMonitor<CookieAuthenticationOptions>>().Get(DashboardAuth.Scheme);
        Assert.Equal(CookieSecurePolicy.SameAsRequest, options.Cookie.SecurePolicy);
        Assert.DoesNotContain(RolesDashboardHost.ViewerKey, cookie.Value, StringComparison.Ordinal);
    }
}
