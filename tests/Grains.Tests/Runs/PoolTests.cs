using Batchyard.Grains;
using Batchyard.Runs;
using static Batchyard.Tests.TestDags;

namespace Batchyard.Tests.Runs;

/// <summary>Pools (Airflow's): a limited pool runs at most its slots of attempts at once, first come first served.</summary>
public sealed class PoolTests(ClusterFixture fx) : IClassFixture<ClusterFixture>
{
    private static TaskInstanceDetails TaskOf(RunDetails run, string taskId) => run.Tasks.Single(t => t.TaskId == taskId);

    [Fact]
    public async Task LimitedPool_RunsTwoAtOnce_AndStartsTheNextInLineWhenASlotFrees()
    {
        var tasks = Enumerable.Range(1, 4).Select(i => Task($"t{i}", "hold") with { Pool = "two-slots" }).ToArray();
        await fx.Dag("pooled").ApplyAsync(Dag("pooled", tasks));
        var run = await fx.Dag("pooled").TriggerAsync(new());

        var two = await fx.WaitForRunAsync("pooled", run.RunId, r => r.Tasks.Count(t => t.State == TaskState.Running) == 2 && r.Tasks.Count(t => t.State == TaskState.Queued) == 2);
        var pool = await fx.Grains.GetGrain<IPoolGrain>("two-slots").GetAsync();
        Assert.Equal(2, pool.Slots);
        Assert.Equal(2, pool.Holders.Length);
        Assert.Equal(2, pool.Waiting.Length);
        var running = two.Tasks.Where(t => t.State == TaskState.Running).ToList();
        var waiting = two.Tasks.Where(t => t.State == TaskState.Queued).Select(t => t.TaskId).ToList();
        Assert.All(waiting, id => Assert.Empty(TaskOf(two, id).Attempts));

        fx.Backend.Release(running[0].Attempts[0].JobId!, succeed: true);
        var next = await fx.WaitForRunAsync("pooled", run.RunId, r => r.Tasks.Count(t => t.State == TaskState.Running) == 2 && r.Tasks.Count(t => t.State == TaskState.Succeeded) == 1);
        // First in line, first served.
        Assert.Equal(TaskState.Running, TaskOf(next, pool.Waiting[0].Split('/')[^1]).State);
        Assert.Equal(TaskState.Queued, TaskOf(next, pool.Waiting[1].Split('/')[^1]).State);

        await fx.Run("pooled", run.RunId).CancelAsync();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while ((await fx.Grains.GetGrain<IPoolGrain>("two-slots").GetAsync()) is { } after && (after.Holders.Length > 0 || after.Waiting.Length > 0))
        {
            Assert.True(DateTime.UtcNow < deadline, "the cancelled run's tasks still hold slots");
            await System.Threading.Tasks.Task.Delay(20);
        }
    }

    [Fact]
    public async Task UnconfiguredPool_IsNotLimited()
    {
        var tasks = Enumerable.Range(1, 5).Select(i => Task($"t{i}", "hold") with { Pool = "nobody-configured-this" }).ToArray();
        await fx.Dag("unpooled").ApplyAsync(Dag("unpooled", tasks));
        var run = await fx.Dag("unpooled").TriggerAsync(new());

        var all = await fx.WaitForRunAsync("unpooled", run.RunId, r => r.Tasks.All(t => t.State == TaskState.Running));
        Assert.Null((await fx.Grains.GetGrain<IPoolGrain>("nobody-configured-this").GetAsync()).Slots);
        await fx.Run("unpooled", run.RunId).CancelAsync();
        Assert.Equal(5, all.Tasks.Length);
    }
}
