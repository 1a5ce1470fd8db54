using Batchyard.Costs;
using Batchyard.Dashboard.Model;

namespace Batchyard.Dashboard.Tests.Model;

public sealed class CostsViewTests
{
    private static readonly DateTimeOffset November = new(2026, 11, 1, 0, 0, 0, TimeSpan.Zero);

    private static CostReport ByDay(params (string Day, decimal Usd)[] days) => new(
        November, November.AddMonths(1), "day",
        [.. days.Select(d => new CostGroup(d.Day, d.Usd, 60, 1, 0))],
        new CostGroup("total", days.Sum(d => d.Usd), 60 * days.Length, days.Length, 0));

    [Fact]
    public void RunningSum_OfTheCurrentMonth_StopsAtToday_AndDaysWithoutAttemptsAddNothing()
    {
        var (days, running) = CostsView.RunningSum(ByDay(("2026-11-02", 1.5m), ("2026-11-04", 2m)), November, November.AddDays(4).AddHours(9));

        Assert.Equal(["1", "2", "3", "4", "5"], days.ToArray());
        Assert.Equal([0, 1.5, 1.5, 3.5, 3.5], running.ToArray());
    }

    [Fact]
    public void RunningSum_OfAPastMonth_CoversEveryDay_AndMonthsParseOnlyAsYearDashMonth()
    {
        var (days, running) = CostsView.RunningSum(ByDay(("2026-11-30", 4m)), November, November.AddMonths(2));

        Assert.Equal(30, days.Length);
        Assert.Equal(4, running[^1]);
        Assert.Equal(0, running[^2]);
        Assert.Equal(November, CostsView.MonthStart("2026-11"));
        Assert.Null(CostsView.MonthStart("november"));
        Assert.Null(CostsView.MonthStart(null));
    }
}
