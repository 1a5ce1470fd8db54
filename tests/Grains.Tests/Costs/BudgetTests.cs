using Batchyard.Dags;
using Batchyard.Runs;
using Batchyard.Tests.Dags;
using static Batchyard.Tests.TestDags;

namespace Batchyard.Tests.Costs;

/// <summary><c>budget:</c> against the cost projection (each run bills one hour of ml.m5.xlarge: $0.23).</summary>
public sealed class BudgetTests(ClusterFixture fx) : IClassFixture<ClusterFixture>
{
    private static DagDefinition Budgeted(string dagId, decimal monthlyUsd, bool pause) =>
        Dag(dagId, Task("train", "bill 3600")) with { Budget = new BudgetSettings { MonthlyUsd = monthlyUsd, PauseOnExceed = pause } };

    private async Task<DagInfo> RunOnceAsync(string dagId, decimal expectSpent)
    {
        var run = await fx.Dag(dagId).TriggerAsync(new TriggerRequest());
        var ended = await fx.WaitForRunEndAsync(dagId, run.RunId);
        Assert.Equal(RunState.Succeeded, ended.State);
        // The DAG sums its month once it hears of the run's end.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        DagInfo info;
        do
        {
            info = (await fx.Dag(dagId).GetAsync())!;
            if (info.Budget?.SpentUsd == expectSpent)
            {
                return info;
            }
            await System.Threading.Tasks.Task.Delay(10);
        }
        while (DateTime.UtcNow < deadline);
        throw new TimeoutException($"budget of {dagId} shows {info.Budget?.SpentUsd} spent, expected {expectSpent}");
    }

    [Fact]
    public async Task Budget_PassesEightyThenAHundredPercentOnceEach_PausesOnce_AndStartsOverNextMonth()
    {
        var dag = fx.Dag("budgeted");
        var applied = await dag.ApplyAsync(Budgeted("budgeted", 0.5m, pause: true));
        Assert.Equal(0m, applied.Budget!.SpentUsd);
        Assert.Equal("2026-03", applied.Budget.Month);

        var one = await RunOnceAsync("budgeted", 0.23m);
        Assert.Empty(one.Budget!.Notified);
        Assert.Equal(46m, one.Budget.Percent);
        Assert.False(one.Paused);

        var two = await RunOnceAsync("budgeted", 0.46m);
        Assert.Equal([80], two.Budget!.Notified.ToArray());
        Assert.False(two.Paused);

        var three = await RunOnceAsync("budgeted", 0.69m);
        Assert.Equal([80, 100], three.Budget!.Notified.ToArray());
        Assert.True(three.Paused);
        Assert.True(three.Budget.PausedByBudget);

        // A person resumes it: the budget does not pause it again this month, nor notify again.
        await dag.SetPausedAsync(false);
        var four = await RunOnceAsync("budgeted", 0.92m);
        Assert.False(four.Paused);
        Assert.False(four.Budget!.PausedByBudget);
        Assert.Equal([80, 100], four.Budget.Notified.ToArray());

        // A new month counts from zero.
        fx.Time.SetUtcNow(new DateTimeOffset(2026, 4, 1, 0, 0, 1, TimeSpan.Zero));
        var april = await RunOnceAsync("budgeted", 0.23m);
        Assert.Equal("2026-04", april.Budget!.Month);
        Assert.Empty(april.Budget.Notified);
    }

    [Fact]
    public async Task Budget_WithoutPauseOnExceed_NeverPauses_AndALoweredBudgetIsCheckedWhenApplied()
    {
        var dag = fx.Dag("budget-no-pause");
        await dag.ApplyAsync(Budgeted("budget-no-pause", 10m, pause: false));
        var spent = await RunOnceAsync("budget-no-pause", 0.23m);
        Assert.Empty(spent.Budget!.Notified);

        // The file now says $0.20 a month: applying it finds the month over budget already.
        var lowered = await dag.ApplyAsync(Budgeted("budget-no-pause", 0.2m, pause: false));

        Assert.Equal([80, 100], lowered.Budget!.Notified.ToArray());
        Assert.False(lowered.Paused);
    }

    [Fact]
    public void Reader_TakesABudget_AndSaysWhatIsWrongWithABadOne()
    {
        var good = DagParser.Parse("b.yaml", "id: b\nbudget:\n  monthly_usd: 500\n  pause_on_exceed: true\ntasks:\n  t: { backend: noop }\n", TestBackends.Lenient);
        Assert.Equal(new BudgetSettings { MonthlyUsd = 500m, PauseOnExceed = true }, good.Dag!.Budget);

        var bad = DagParser.Parse("b.yaml", "id: b\nbudget:\n  monthly_usd: -3\n  pause_on_exceed: maybe\n  limit: 4\ntasks:\n  t: { backend: noop }\n", TestBackends.Lenient);
        Assert.Null(bad.Dag);
        Assert.Contains(bad.Problems, p => p.ToString().StartsWith("b.yaml:3:", StringComparison.Ordinal) && p.ToString().Contains("more than 0", StringComparison.Ordinal));
        Assert.Contains(bad.Problems, p => p.ToString().StartsWith("b.yaml:4:", StringComparison.Ordinal) && p.ToString().Contains("true or false", StringComparison.Ordinal));
        Assert.Contains(bad.Problems, p => p.ToString().StartsWith("b.yaml:5:", StringComparison.Ordinal) && p.ToString().Contains("limit", StringComparison.Ordinal));

        var missing = DagParser.Parse("b.yaml", "id: b\nbudget:\n  pause_on_exceed: true\ntasks:\n  t: { backend: noop }\n", TestBackends.Lenient);
        Assert.Contains(missing.Problems, p => p.ToString().Contains("needs 'monthly_usd'", StringComparison.Ordinal));
    }
}

/// <summary>A budget's month is the DAG's calendar month, in its time zone.</summary>
public sealed class BudgetTimeZoneTests(ClusterFixture fx) : IClassFixture<ClusterFixture>
{
    [Fact]
    public async Task AnAttemptEndingOnTheFirstInTokyo_CountsInTokyosNewMonth_ThoughItIsStillTheLastDayInUtc()
    {
        // 15:30 UTC on 30 April is 00:30 on 1 May in Tokyo.
        fx.Time.SetUtcNow(new DateTimeOffset(2026, 4, 30, 15, 30, 0, TimeSpan.Zero));
        var dag = fx.Dag("tokyo-budget");
        await dag.ApplyAsync(Dag("tokyo-budget", Task("train", "bill 3600")) with
        {
            Timezone = "Asia/Tokyo",
            Budget = new BudgetSettings { MonthlyUsd = 1m },
        });
        var run = await dag.TriggerAsync(new TriggerRequest());
        await fx.WaitForRunEndAsync("tokyo-budget", run.RunId);

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        BudgetStatus? budget;
        do
        {
            budget = (await dag.GetAsync())!.Budget;
            if (budget?.SpentUsd > 0)
            {
                break;
            }
            await System.Threading.Tasks.Task.Delay(10);
        }
        while (DateTime.UtcNow < deadline);

        Assert.Equal("2026-05", budget!.Month);
        Assert.Equal(0.23m, budget.SpentUsd);
    }
}
