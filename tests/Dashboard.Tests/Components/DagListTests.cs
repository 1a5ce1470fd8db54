using Batchyard.Dashboard.Model;
using Batchyard.Dashboard.Tests.EndToEnd;
using Batchyard.Events;
using Bunit;
using Bunit.Rendering;
using Microsoft.Extensions.DependencyInjection;
using MudBlazor;
using MudBlazor.Services;

using DagsPage = Batchyard.Dashboard.Components.Pages.Dags;

namespace Batchyard.Dashboard.Tests.Components;

/// <summary>
/// The DAG list page against the real registry of a host with 300 DAGs: one page of rows is rendered, and the
/// filters, search and counts are the server's (counts over every DAG, not over the rows on screen).
/// </summary>
public sealed class DagListTests : IClassFixture<FewHundredDagsHost>, IAsyncLifetime
{
    /// <summary>How long a rendered page may take to show what the server answered.</summary>
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    /// <summary>Held, not inherited: MudBlazor's services can only be disposed asynchronously.</summary>
    private readonly BunitContext _bunit = new();

    private BunitServiceProvider Services => _bunit.Services;

    private BunitJSInterop JSInterop => _bunit.JSInterop;

    private BunitRenderer Renderer => _bunit.Renderer;

    public Task InitializeAsync() => Task.CompletedTask;

    private readonly IServiceScope _scope;

    public async Task DisposeAsync()
    {
        await _bunit.DisposeAsync();
        _scope.Dispose();
    }

    private IRenderedComponent<DagsPage> Render<T>() where T : DagsPage => _bunit.Render<DagsPage>();

    public DagListTests(FewHundredDagsHost host)
    {
        ArgumentNullException.ThrowIfNull(host);
        Services.AddMudServices();
        JSInterop.Mode = JSRuntimeMode.Loose;
        Services.AddSingleton(host.Services.GetRequiredService<IGrainFactory>());
        Services.AddSingleton(host.Services.GetRequiredService<RunEvents>());
        Services.AddSingleton(TimeProvider.System);
        // The page's data as a circuit has it: its caller is scoped (a host without keys: the anonymous admin).
        _scope = host.Services.CreateScope();
        Services.AddSingleton(ActivatorUtilities.CreateInstance<DashboardData>(_scope.ServiceProvider));
        // As prerendered: the page reads its first page without following live events.
        Renderer.SetRendererInfo(new Microsoft.AspNetCore.Components.RendererInfo("Static", isInteractive: false));
    }

    private static string[] Rows(IRenderedComponent<DagsPage> page) => [.. page.FindAll("tr[data-dag]").Select(r => r.GetAttribute("data-dag")!)];

    private static string Counts(IRenderedComponent<DagsPage> page) => page.Find("[data-testid=dag-counts]").TextContent.Trim();

    private static Task SetAsync<T>(IRenderedComponent<DagsPage> page, IRenderedComponent<T> field, string? value) where T : MudBaseInput<string> =>
        page.InvokeAsync(() => field.Instance.ValueChanged.InvokeAsync(value));

    [Fact]
    public void FirstPage_ShowsFiftyRowsAndCountsOverEveryDag()
    {
        var page = Render<DagsPage>();

        page.WaitForAssertion(() => Assert.Equal(DagsPage.PageSize, Rows(page).Length), Wait);
        Assert.Equal([.. Enumerable.Range(0, DagsPage.PageSize).Select(i => $"gen-{i:D4}")], Rows(page));
        Assert.StartsWith("300 DAGs · 0 running now · 0 paused", Counts(page), StringComparison.Ordinal);
        Assert.Contains("1–50 of 300", page.Find("[data-testid=dag-pager]").TextContent, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Search_IsDoneOnTheServer_CountsEveryMatchAndPagesThroughThem()
    {
        var page = Render<DagsPage>();
        page.WaitForAssertion(() => Assert.Equal(DagsPage.PageSize, Rows(page).Length), Wait);

        await SetAsync(page, page.FindComponent<MudTextField<string>>(), "GEN-01");

        page.WaitForAssertion(() => Assert.Contains("100 matches", Counts(page), StringComparison.Ordinal), Wait);
        Assert.Equal([.. Enumerable.Range(100, 50).Select(i => $"gen-{i:D4}")], Rows(page));
        await page.InvokeAsync(() => page.FindComponent<MudPagination>().Instance.SelectedChanged.InvokeAsync(2));
        page.WaitForAssertion(() => Assert.Equal([.. Enumerable.Range(150, 50).Select(i => $"gen-{i:D4}")], Rows(page)), Wait);

        await SetAsync(page, page.FindComponent<MudTextField<string>>(), "churn");
        page.WaitForAssertion(() => Assert.Contains("30 matches", Counts(page), StringComparison.Ordinal), Wait);
        Assert.Equal([.. Enumerable.Range(0, 30).Select(i => $"gen-{i * 10:D4}")], Rows(page));
        Assert.Empty(page.FindAll("[data-testid=dag-pager]"));
    }

    [Fact]
    public async Task TagAndOwnerFilters_AreCombinedOnTheServer()
    {
        var page = Render<DagsPage>();
        page.WaitForAssertion(() => Assert.Equal(DagsPage.PageSize, Rows(page).Length), Wait);
        var selects = page.FindComponents<MudSelect<string>>();

        await SetAsync(page, selects[0], "t0");
        page.WaitForAssertion(() => Assert.Contains("60 matches", Counts(page), StringComparison.Ordinal), Wait);
        await SetAsync(page, selects[1], "team-0");

        page.WaitForAssertion(() => Assert.Contains("15 matches", Counts(page), StringComparison.Ordinal), Wait);
        Assert.Equal([.. Enumerable.Range(0, 15).Select(i => $"gen-{i * 20:D4}")], Rows(page));
        Assert.StartsWith("300 DAGs", Counts(page), StringComparison.Ordinal);

        await SetAsync(page, selects[2], "never run");
        page.WaitForAssertion(() => Assert.Contains("15 matches", Counts(page), StringComparison.Ordinal), Wait);
        await SetAsync(page, selects[2], "paused");
        page.WaitForAssertion(() => Assert.Contains("No DAG matches these filters", page.Markup, StringComparison.Ordinal), Wait);
    }
}
