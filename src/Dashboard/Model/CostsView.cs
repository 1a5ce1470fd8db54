using System.Collections.Immutable;
using System.Globalization;
using Batchyard.Costs;
using Batchyard.Dags;

namespace Batchyard.Dashboard.Model;

/// <summary>
/// What the costs page shows for one UTC month: the groups (by DAG, owner, tag, instance type or day), the month's
/// total, and the month's spend day by day as a running sum, beside the budget when one DAG with a budget is chosen.
/// </summary>
public sealed record CostsView(
    string Month,
    CostReport Groups,
    ImmutableArray<string> Days,
    ImmutableArray<double> RunningUsd,
    BudgetStatus? Budget)
{
    /// <summary>The month of <paramref name="month"/> (<c>yyyy-MM</c>), or null when it is not one.</summary>
    public static DateTimeOffset? MonthStart(string? month) =>
        DateTime.TryParseExact(month, "yyyy-MM", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var start)
            ? new DateTimeOffset(start.Year, start.Month, 1, 0, 0, 0, TimeSpan.Zero)
            : null;

    public static string MonthOf(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM", CultureInfo.InvariantCulture);

    /// <summary>
    /// The running sum by day from a by-day report: every day of the month up to <paramref name="now"/> (the whole
    /// month when it is over), days without attempts adding nothing.
    /// </summary>
    public static (ImmutableArray<string> Days, ImmutableArray<double> Running) RunningSum(CostReport byDay, DateTimeOffset monthStart, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(byDay);
        var perDay = byDay.Groups.ToDictionary(g => g.Key, g => g.Usd, StringComparer.Ordinal);
        var end = monthStart.AddMonths(1);
        var last = now < end ? now : end.AddDays(-1);
        var days = ImmutableArray.CreateBuilder<string>();
        var running = ImmutableArray.CreateBuilder<double>();
        var sum = 0m;
        for (var day = monthStart; day <= last && day < end; day = day.AddDays(1))
        {
            var key = day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
            sum += perDay.GetValueOrDefault(key);
            days.Add(day.Day.ToString(CultureInfo.InvariantCulture));
            running.Add((double)sum);
        }
        return (days.ToImmutable(), running.ToImmutable());
    }
}
