using Batchyard.Dashboard.Components.Shared;
using Batchyard.Dashboard.Model;
using Batchyard.Datasets;
using Batchyard.Grains;
using Bunit;
using MudBlazor;
using Microsoft.Extensions.DependencyInjection;
using MudBlazor.Services;

namespace Batchyard.Dashboard.Tests.Components;

public sealed class BackfillAndDatasetComponentsTests : BunitContext
{
    private static readonly DateTimeOffset Jan1 = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    public BackfillAndDatasetComponentsTests()
    {
        Services.AddMudServices();
        JSInterop.Mode = JSRuntimeMode.Loose;
    }

    private static BackfillInfo Backfill(string id, BackfillState state, int total, int succeeded, int failed, int running) => new()
    {
        BackfillId = id,
        DagId = "daily",
        From = Jan1,
        To = Jan1.AddDays(total - 1),
        State = state,
        Total = total,
        Created = succeeded + failed + running,
        Running = running,
        Succeeded = succeeded,
        Failed = failed,
    };

    [Fact]
    public void BackfillTable_ShowsEachCount_AndCancelOnlyOnARunningOne()
    {
        string? cancelled = null;
        var table = Render<BackfillTable>(p => p
            .Add(c => c.Backfills, [Backfill("b2", BackfillState.Running, 30, 10, 1, 3), Backfill("b1", BackfillState.Succeeded, 3, 3, 0, 0)])
            .Add(c => c.CanOperate, true)
            .Add(c => c.OnCancel, (string id) => cancelled = id));

        var running = table.Find("tr[data-backfill=b2]");
        Assert.Equal("running", running.GetAttribute("data-state"));
        Assert.Equal(["30", "14", "3", "10", "1"], new[] { "total", "created", "running", "succeeded", "failed" }.Select(k => running.QuerySelector($"td[data-count={k}]")!.TextContent));
        Assert.Single(table.FindAll("[data-testid=backfill-cancel]"));
        Assert.Empty(table.Find("tr[data-backfill=b1]").QuerySelectorAll("[data-testid=backfill-cancel]"));

        table.Find("[data-testid=backfill-cancel]").Click();

        Assert.Equal("b2", cancelled);
    }

    [Fact]
    public void BackfillTable_ForAKeyThatMayNotOperate_HasNoCancelButton()
    {
        var table = Render<BackfillTable>(p => p.Add(c => c.Backfills, [Backfill("b", BackfillState.Running, 5, 1, 0, 1)]).Add(c => c.CanOperate, false));

        Assert.NotNull(table.Find("tr[data-backfill=b]"));
        Assert.Empty(table.FindAll("[data-testid=backfill-cancel]"));
    }

    [Fact]
    public void BackfillTable_None_SaysSo()
    {
        var table = Render<BackfillTable>(p => p.Add(c => c.Backfills, []));

        Assert.NotNull(table.Find("[data-testid=no-backfills]"));
    }

    [Fact]
    public async Task BackfillDialog_ABadRange_IsRefusedInTheDialog_AndAGoodOneClosesWithTheRequest()
    {
        // A context of its own: MudBlazor's popover service may only be disposed asynchronously.
        await using var context = new BunitContext();
        context.Services.AddMudServices();
        context.JSInterop.Mode = JSRuntimeMode.Loose;
        var provider = context.Render<MudDialogProvider>();
        var dialogs = context.Services.GetRequiredService<IDialogService>();
        var parameters = new DialogParameters<BackfillDialog> { { d => d.DagId, "daily" }, { d => d.Schedule, "every day at 00:00" }, { d => d.MaxActiveRuns, 3 } };
        IDialogReference? reference = null;
        await provider.InvokeAsync(async () => reference = await dialogs.ShowAsync<BackfillDialog>("Backfill", parameters));

        provider.Find("[data-testid=backfill-from] input").Input("2026-01-30");
        provider.Find("[data-testid=backfill-to] input").Input("2026-01-01");
        provider.Find("[data-testid=backfill-confirm]").Click();
        Assert.Contains("from is after to", provider.WaitForElement("[data-testid=backfill-error]", TimeSpan.FromSeconds(10)).TextContent, StringComparison.Ordinal);

        provider.Find("[data-testid=backfill-from] input").Input("2026-01-01");
        provider.Find("[data-testid=backfill-to] input").Input("2026-01-30");
        provider.Find("[data-testid=backfill-backwards] input").Change(true);
        provider.Find("[data-testid=backfill-confirm]").Click();
        var result = await reference!.Result;

        var request = Assert.IsType<BackfillRequest>(result!.Data);
        Assert.Equal((Jan1, Jan1.AddDays(30).AddTicks(-1), true, (int?)null), (request.From, request.To, request.Backwards, request.MaxActiveRuns));
    }

    [Fact]
    public void DatasetGraphView_DrawsEveryBoxAndEdge_AndLinksTheDags()
    {
        var graph = DatasetGraph.Compute(
        [
            new DatasetInfo { Name = "features", Producers = [new DatasetProducer { DagId = "etl", TaskId = "build" }], Consumers = ["train"] },
        ]);

        var view = Render<DatasetGraphView>(p => p.Add(c => c.Graph, graph));

        Assert.Equal(["producer", "dataset", "consumer"], view.FindAll("g[data-kind]").Select(g => g.GetAttribute("data-kind")));
        Assert.NotNull(view.Find("path[data-edge='producer:etl/build->dataset:features']"));
        Assert.NotNull(view.Find("path[data-edge='dataset:features->consumer:train']"));
        Assert.Equal(["dags/etl", "dags/train"], view.FindAll("a").Select(a => a.GetAttribute("href")));
    }
}
