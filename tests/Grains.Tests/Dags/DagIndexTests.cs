using Batchyard.Dags;
using Batchyard.Runs;

namespace Batchyard.Tests.Dags;

public sealed class DagIndexTests
{
    private static readonly DateTimeOffset Now = new(2026, 3, 1, 10, 30, 0, TimeSpan.Zero);

    private static DagIndex Index(int count)
    {
        var index = new DagIndex();
        // Added out of order: the index keeps them by id.
        foreach (var i in Enumerable.Range(0, count).Reverse())
        {
            index.Set(new DagSummary
            {
                DagId = $"d{i:D2}",
                Owner = i % 2 == 0 ? "even" : "odd",
                Tags = i % 3 == 0 ? ["three"] : [],
                Paused = i == 4,
                ActiveRuns = i == 5 ? 1 : 0,
                LastRunState = i < 3 ? RunState.Failed : null,
                Schedule = "0 * * * *",
                NextRunAt = i == 4 ? null : Now.AddHours(-2),
                Loaded = true,
            });
        }
        return index;
    }

    [Fact]
    public void Query_ForATagLimitedKey_LeavesOtherTeamsDagsOutOfPagesCountsAndFacets()
    {
        var index = Index(10);

        // d00, d03, d06, d09 carry "three"; d05 (running) and d04 (paused) do not.
        var page = index.Query(new DagQuery { VisibleTags = ["three"], Limit = 2 }, Now);
        var rest = index.Query(new DagQuery { VisibleTags = ["three"], After = page.NextAfter }, Now);

        Assert.Equal(["d00", "d03"], page.Items.Select(d => d.DagId));
        Assert.Equal(["d06", "d09"], rest.Items.Select(d => d.DagId));
        Assert.Null(rest.NextAfter);
        Assert.Equal(4, page.Total);
        Assert.Equal(4, page.Matching);
        Assert.Equal(0, page.Running);
        Assert.Equal(0, page.Paused);
        Assert.Equal([new FacetCount("even", 2), new FacetCount("odd", 2)], index.Facets(["three"]).Owners.ToArray());
        Assert.Empty(index.Query(new DagQuery { VisibleTags = ["nobody"] }, Now).Items);
    }

    [Fact]
    public void Query_AfterAndLimit_PagesByIdWithCountsOverEveryDag()
    {
        var index = Index(10);

        var first = index.Query(new DagQuery { Limit = 4 }, Now);
        var second = index.Query(new DagQuery { Limit = 4, After = first.NextAfter }, Now);
        var last = index.Query(new DagQuery { Limit = 4, After = second.NextAfter }, Now);

        Assert.Equal(["d00", "d01", "d02", "d03"], first.Items.Select(d => d.DagId));
        Assert.Equal("d03", first.NextAfter);
        Assert.Equal(["d04", "d05", "d06", "d07"], second.Items.Select(d => d.DagId));
        Assert.Equal(["d08", "d09"], last.Items.Select(d => d.DagId));
        Assert.Null(last.NextAfter);
        Assert.All(new[] { first, second, last }, p => Assert.Equal((10, 10, 1, 1), (p.Total, p.Matching, p.Running, p.Paused)));
    }

    [Fact]
    public void Query_FiltersAndOffset_CountMatchesOverEveryPage()
    {
        var index = Index(10);

        var evenThree = index.Query(new DagQuery { Owner = "even", Tag = "three" }, Now);
        var failedOdd = index.Query(new DagQuery { LastRunState = RunState.Failed, Owner = "odd" }, Now);
        var neverRun = index.Query(new DagQuery { NeverRun = true, Offset = 2, Limit = 3 }, Now);

        Assert.Equal(["d00", "d06"], evenThree.Items.Select(d => d.DagId));
        Assert.Equal(["d01"], failedOdd.Items.Select(d => d.DagId));
        Assert.Equal(["d05", "d06", "d07"], neverRun.Items.Select(d => d.DagId));
        Assert.Equal(7, neverRun.Matching);
        Assert.Equal("d07", neverRun.NextAfter);
        Assert.Equal(["d05"], index.Query(new DagQuery { Running = true }, Now).Items.Select(d => d.DagId));
    }

    [Fact]
    public void Query_NextRunInThePast_IsRolledToTheScheduleNextSlot()
    {
        var index = Index(5);

        var page = index.Query(new DagQuery(), Now);

        Assert.Equal(Now.AddMinutes(30), page.Items[0].NextRunAt);
        Assert.Null(page.Items[4].NextRunAt);
    }

    [Fact]
    public void SetAndRemove_ReplaceTheRowAndKeepTheOrder()
    {
        var index = Index(3);

        index.Set(new DagSummary { DagId = "d01", Owner = "new" });
        index.Remove("d00");
        index.Remove("missing");

        var page = index.Query(new DagQuery(), Now);
        Assert.Equal(["d01", "d02"], page.Items.Select(d => d.DagId));
        Assert.Equal("new", page.Items[0].Owner);
        Assert.Equal([new FacetCount("even", 1), new FacetCount("new", 1)], index.Facets().Owners.ToArray());
    }
}
