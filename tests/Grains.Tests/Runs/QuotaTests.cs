using Batchyard.Dags;
using Batchyard.Grains;
using Batchyard.Runs;
using static Batchyard.Tests.TestDags;

namespace Batchyard.Tests.Runs;

/// <summary>Quotas (<c>Batchyard:Quotas:TYPE</c>): instances of a type at once, counting each attempt's instance count; given back on every end.</summary>
public sealed class QuotaTests(ClusterFixture fx) : IClassFixture<ClusterFixture>
{
    private const string Type = "ml.test.large";

    private static TaskDefinition Wide(string id, string script, int instances) =>
        Task(id, script) with { Resources = new TaskResources { InstanceType = Type, InstanceCount = instances } };

    private Task<PoolInfo> QuotaAsync() => fx.Grains.GetGrain<IPoolGrain>($"quota:{Type}").GetAsync();

    private async Task WaitUntilFreeAsync()
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (await QuotaAsync() is { } quota && (quota.InUse > 0 || quota.Waiting.Length > 0))
        {
            Assert.True(DateTime.UtcNow < deadline, $"the quota still has {quota.InUse} in use and {quota.Waiting.Length} waiting");
            await System.Threading.Tasks.Task.Delay(20);
        }
    }

    [Fact]
    public async Task QuotaOfThree_TwoInstanceTasks_RunOneAtATime_TheOthersWaitSayingWhy_AndCancelGivesAllBack()
    {
        await fx.Dag("quota-wide").ApplyAsync(Dag("quota-wide", Wide("a", "hold", 2), Wide("b", "hold", 2), Wide("c", "hold", 2)));
        var run = await fx.Dag("quota-wide").TriggerAsync(new());

        var one = await fx.WaitForRunAsync("quota-wide", run.RunId, r => r.Tasks.Count(t => t.State == TaskState.Running) == 1
            && r.Tasks.Count(t => t.Attempts.Any(a => a.State == AttemptState.Queued && a.Reason is not null)) == 2);
        var waiting = one.Tasks.Where(t => t.State == TaskState.Queued).Select(t => t.Attempts.Single().Reason).ToList();
        Assert.Contains($"waiting for quota: {Type} 2 of 3 in use", waiting);
        Assert.Contains($"waiting for quota: {Type} 2 of 3 in use, 1 ahead", waiting);
        var quota = await QuotaAsync();
        Assert.Equal(("quota", 3, 2), (quota.Kind, quota.Slots, quota.InUse));
        Assert.Single(quota.Holders);
        Assert.Equal(2, quota.Waiting.Length);

        // The first ends: the next in line gets its instances and its job, and no longer says it waits.
        var first = one.Tasks.Single(t => t.State == TaskState.Running);
        fx.Backend.Release(first.Attempts[0].JobId!, succeed: true);
        var next = await fx.WaitForRunAsync("quota-wide", run.RunId, r => r.Tasks.Count(t => t.State == TaskState.Succeeded) == 1 && r.Tasks.Count(t => t.State == TaskState.Running) == 1);
        Assert.Null(next.Tasks.Single(t => t.State == TaskState.Running).Attempts.Single().Reason);
        Assert.Equal(2, (await QuotaAsync()).InUse);

        await fx.Run("quota-wide", run.RunId).CancelAsync();
        await WaitUntilFreeAsync();
    }

    [Fact]
    public async Task FailedAttempt_GivesItsInstancesBack_BeforeItsRetry()
    {
        await fx.Dag("quota-fail").ApplyAsync(Dag("quota-fail", Wide("f", "fail", 3) with { Retries = 1, RetryDelay = TimeSpan.FromHours(1) }));
        var run = await fx.Dag("quota-fail").TriggerAsync(new());

        await fx.WaitForRunAsync("quota-fail", run.RunId, r => r.Tasks.Single().State == TaskState.UpForRetry);
        await WaitUntilFreeAsync();
        await fx.Run("quota-fail", run.RunId).CancelAsync();
    }
}
