using System.Text.RegularExpressions;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Batchyard.Dashboard.Tests.EndToEnd;

/// <summary>With <c>Batchyard:ApiKey</c> set, the dashboard shows nothing before the key is given.</summary>
public sealed class SignInTests(KeyedDashboardHost host) : IClassFixture<KeyedDashboardHost>
{
    [Fact]
    public async Task Dashboard_WithAnApiKey_AsksForItBeforeShowingAnything()
    {
        var page = await host.OpenAsync("dags/quick", waitInteractive: false);

        await page.WaitForURLAsync(new Regex("/login\\?returnUrl="));
        Assert.DoesNotContain("quick", await page.Locator("body").InnerTextAsync(), StringComparison.Ordinal);
        await page.Locator("#key").FillAsync("wrong");
        await page.Locator("button[type=submit]").ClickAsync();
        await Expect(page.Locator("[data-testid=login-error]")).ToBeVisibleAsync();
        await DashboardHost.ScreenshotAsync(page, "0-sign-in");

        await page.Locator("#key").FillAsync(KeyedDashboardHost.Key);
        await page.Locator("button[type=submit]").ClickAsync();

        await page.WaitForURLAsync(new Regex("/dags/quick$"));
        await DashboardHost.WaitInteractiveAsync(page);
        await Expect(page.Locator("#page-title")).ToHaveTextAsync("quick");
    }

    [Fact]
    public async Task Circuit_WithoutASession_IsRefused()
    {
        using var http = new HttpClient { BaseAddress = host.BaseAddress };

        using var response = await http.PostAsync(new Uri("_blazor/negotiate?negotiateVersion=1", UriKind.Relative), null);

        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, response.StatusCode);
    }
}
