using System.Collections.Immutable;
using Batchyard.Costs;
using Batchyard.History;
using Batchyard.Runs;

namespace Batchyard.Tests.Costs;

public sealed class AttemptCostsTests
{
    private static readonly DateTimeOffset Start = new(2026, 11, 20, 10, 0, 0, TimeSpan.Zero);

    private static ImmutableDictionary<string, string> Facts(params (string Key, string Value)[] facts) =>
        facts.ToImmutableDictionary(f => f.Key, f => f.Value);

    private static ImmutableDictionary<string, string> Instance(string type, int count, string region = "us-east-1", params (string, string)[] more) =>
        Facts([(CostFacts.Billing, CostFacts.Instance), (CostFacts.InstanceType, type), (CostFacts.InstanceCount, count.ToString(System.Globalization.CultureInfo.InvariantCulture)), (CostFacts.Region, region), .. more]);

    [Fact]
    public void PriceTable_FindsTheListPriceOfAKnownTypeInEachMainRegion_AndSaysWhereItCameFrom()
    {
        var table = new PriceTable([]);

        var price = table.Find("ml.m5.xlarge", "us-east-1");

        Assert.NotNull(price);
        Assert.Equal(0.23m, price.UsdPerHour);
        Assert.Contains("us-east-1", price.Source, StringComparison.Ordinal);
        Assert.Contains(table.AsOf, price.Source, StringComparison.Ordinal);
        foreach (var region in new[] { "us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-northeast-1" })
        {
            foreach (var type in new[] { "ml.m5.large", "ml.m5.4xlarge", "ml.c5.xlarge", "ml.g4dn.xlarge", "ml.g5.xlarge", "ml.p3.2xlarge", "ml.t3.medium" })
            {
                Assert.True(table.Find(type, region) is { UsdPerHour: > 0 }, $"no price for {type} in {region}");
            }
        }
        Assert.True(table.Find("ml.g5.xlarge", "ap-northeast-1")!.UsdPerHour > table.Find("ml.g5.xlarge", "us-east-1")!.UsdPerHour);
    }

    [Fact]
    public void PriceTable_Override_WinsInEveryRegion_AndUnknownTypesAndRegionsHaveNoPrice()
    {
        var table = new PriceTable([("ml.m5.xlarge", "1.5"), ("ml.custom.big", "9"), ("ml.c5.xlarge", "not a number")]);

        Assert.Equal(1.5m, table.Find("ml.m5.xlarge", "eu-west-1")!.UsdPerHour);
        Assert.Equal("Batchyard:Prices:ml.m5.xlarge", table.Find("ml.m5.xlarge", null)!.Source);
        Assert.Equal(9m, table.Find("ml.custom.big", "us-east-1")!.UsdPerHour);
        Assert.Equal(0.204m, table.Find("ml.c5.xlarge", "us-east-1")!.UsdPerHour);
        Assert.Null(table.Find("ml.zz9.huge", "us-east-1"));
        Assert.Null(table.Find("ml.m5.large", "mars-north-1"));
    }

    [Fact]
    public void Processing_CostsItsStartToEnd_TimesItsInstances_AtTheListPrice()
    {
        var costs = new AttemptCosts(new PriceTable([]), new LocalPrices());

        var cost = costs.Of(Instance("ml.m5.xlarge", 2), Start, Start.AddSeconds(360))!;

        Assert.Equal(720, cost.ComputeSeconds);
        Assert.Equal(0.046m, cost.Usd);
        Assert.StartsWith("2 x ml.m5.xlarge, 360 s at 0.23 USD/h", cost.Basis, StringComparison.Ordinal);
        Assert.Equal("ml.m5.xlarge", cost.InstanceType);
    }

    [Fact]
    public void Training_CostsItsBillableSeconds_PlusWarmPoolTime_AndShowsTheSpotSaving()
    {
        var costs = new AttemptCosts(new PriceTable([("ml.g5.xlarge", "3.6")]), new LocalPrices());

        // Spot: 100 s billed of 500 s trained (the model's example: an 80 % saving), then 20 s kept warm.
        var cost = costs.Of(Instance("ml.g5.xlarge", 3, more: [(CostFacts.BillableSeconds, "100"), (CostFacts.TrainingSeconds, "500"), (CostFacts.WarmPoolSeconds, "20")]), Start, Start.AddSeconds(600))!;

        Assert.Equal((100 + 20) * 3, cost.ComputeSeconds);
        Assert.Equal(0.36m, cost.Usd);
        Assert.Contains("3 x ml.g5.xlarge, 100 s + 20 s warm pool", cost.Basis, StringComparison.Ordinal);
        Assert.Contains("spot saving 80 %", cost.Basis, StringComparison.Ordinal);
    }

    [Fact]
    public void UnknownInstanceType_ShowsItsComputeSeconds_AndNoPrice()
    {
        var costs = new AttemptCosts(new PriceTable([]), new LocalPrices());

        var cost = costs.Of(Instance("ml.zz9.huge", 1, more: [(CostFacts.BillableSeconds, "90")]), Start, Start.AddSeconds(100))!;

        Assert.Null(cost.Usd);
        Assert.Equal(90, cost.ComputeSeconds);
        Assert.Contains("no price for ml.zz9.huge in us-east-1", cost.Basis, StringComparison.Ordinal);
    }

    [Fact]
    public void Local_CostsCpuSecondsAndGbSeconds_AtTheConfiguredPrices()
    {
        var priced = new AttemptCosts(new PriceTable([]), new LocalPrices(CpuHourUsd: 0.36m, GbHourUsd: 0.072m));
        var free = new AttemptCosts(new PriceTable([]), new LocalPrices());
        // 50 cpu-seconds, a 2 GB peak over 100 s = 200 GB-s.
        var facts = Facts((CostFacts.Billing, CostFacts.Local), (CostFacts.CpuSeconds, "50"), (CostFacts.MemoryPeakBytes, (2L * 1024 * 1024 * 1024).ToString(System.Globalization.CultureInfo.InvariantCulture)));

        var cost = priced.Of(facts, Start, Start.AddSeconds(100))!;
        var unpriced = free.Of(facts, Start, Start.AddSeconds(100))!;

        Assert.Equal(0.009m, cost.Usd); // 50 × 0.36 / 3600 + 200 × 0.072 / 3600 = 0.005 + 0.004
        Assert.Equal(50, cost.ComputeSeconds);
        Assert.Contains("50 cpu-s, 2 GB peak x 100 s at 0.36 USD/cpu-h + 0.072 USD/GB-h", cost.Basis, StringComparison.Ordinal);
        Assert.Equal(0m, unpriced.Usd);
        Assert.Contains("not priced", unpriced.Basis, StringComparison.Ordinal);
        var small = free.Of(facts.SetItem(CostFacts.MemoryPeakBytes, (64L * 1024 * 1024).ToString(System.Globalization.CultureInfo.InvariantCulture)), Start, Start.AddSeconds(100))!;
        Assert.Contains("50 cpu-s, 64 MB peak x 100 s", small.Basis, StringComparison.Ordinal);
    }

    [Fact]
    public void Noop_CostsNothing_AndAnAttemptWithoutBillingFactsHasNoCost()
    {
        var costs = new AttemptCosts(new PriceTable([]), new LocalPrices());

        var noop = costs.Of(Facts((CostFacts.Billing, CostFacts.None)), Start, Start);

        Assert.Equal(new AttemptCost { Usd = 0m, ComputeSeconds = 0, Basis = "noop", InstanceType = "noop" }, noop);
        Assert.Null(costs.Of(Facts(("jobName", "x")), Start, Start.AddSeconds(5)));
    }

    [Fact]
    public void CostReport_ByTag_CountsADagInEachOfItsTags_AndTheTotalOnce_AndLeavesOutWhatTheCallerDoesNotSee()
    {
        var day = new DateOnly(2026, 11, 3);
        CostCell[] cells =
        [
            new("a", "ml.m5.xlarge", day, 1.0m, 100, 2, 0),
            new("b", "local", day, 0.5m, 50, 1, 0),
            new("c", "ml.zz9.huge", day.AddDays(1), 0m, 30, 1, 1),
            new("hidden", "local", day, 7m, 1, 1, 0),
        ];
        var dags = new Dictionary<string, CostDag>
        {
            ["a"] = new("mlops", ["recsys", "shared"]),
            ["b"] = new(null, ["shared"]),
            ["c"] = new("mlops", []),
        };

        var report = CostReports.Build(cells, CostGrouping.Tag, Start, Start.AddDays(30), dags, id => id != "hidden");
        var byOwner = CostReports.Build(cells, CostGrouping.Owner, Start, Start.AddDays(30), dags, id => id != "hidden");
        var byDay = CostReports.Build(cells, CostGrouping.Day, Start, Start.AddDays(30), dags, _ => true);

        Assert.Equal(["shared", "recsys", CostReports.NoTag], report.Groups.Select(g => g.Key));
        Assert.Equal(1.5m, report.Groups[0].Usd);
        Assert.Equal(new CostGroup("total", 1.5m, 180, 4, 1), report.Total);
        Assert.Equal(["mlops", CostReports.NoOwner], byOwner.Groups.Select(g => g.Key));
        Assert.Equal(["2026-11-03", "2026-11-04"], byDay.Groups.Select(g => g.Key));
        Assert.Equal(8.5m, byDay.Total.Usd);
    }
}
