using Batchyard.Dags;
using Batchyard.Grains;
using Batchyard.Runs;
using Orleans.Core.Internal;
using static Batchyard.Tests.TestDags;

namespace Batchyard.Tests.Dags;

/// <summary>The registry's list rows: sent by each DAG grain as it changes, read back from them by a new activation.</summary>
public sealed class DagRegistryTests(ClusterFixture fx) : IClassFixture<ClusterFixture>
{
    private IDagRegistryGrain Registry => fx.Grains.GetGrain<IDagRegistryGrain>(0);

    private static DagDefinition Tagged(string dagId, string tag, string owner) =>
        Dag(dagId, Task("t")) with { Tags = [tag], Owner = owner, Description = $"the {dagId} job", Schedule = "0 * * * *" };

    private async Task<DagPage> ByTagAsync(string tag) => await Registry.QueryAsync(new DagQuery { Tag = tag });

    [Fact]
    public void State_KeepsTheIdsAsOneString_AndReadsTheSetEarlierVersionsWrote()
    {
        var written = DagRegistryState.Of(["b-dag", "a-dag", "c_dag"]);
        Assert.Empty(written.DagIds);
        Assert.Equal(["a-dag", "b-dag", "c_dag"], written.Ids().Order(StringComparer.Ordinal));
        Assert.Empty(DagRegistryState.Of([]).Ids());

        var earlier = new DagRegistryState { DagIds = new HashSet<string>(["old-a", "old-b"], StringComparer.Ordinal) };
        Assert.Equal(["old-a", "old-b"], earlier.Ids().Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Rows_FollowApplyPauseRunsAndDelete()
    {
        var tag = Guid.NewGuid().ToString("N");
        await fx.Dag($"{tag}-a").ApplyAsync(Tagged($"{tag}-a", tag, "ann"));
        await fx.Dag($"{tag}-b").ApplyAsync(Tagged($"{tag}-b", tag, "bob"));

        var applied = await ByTagAsync(tag);
        Assert.Equal([$"{tag}-a", $"{tag}-b"], applied.Items.Select(d => d.DagId));
        Assert.All(applied.Items, d => Assert.Equal(("0 * * * *", (RunState?)null, false), (d.Schedule, d.LastRunState, d.Paused)));

        await fx.Dag($"{tag}-b").SetPausedAsync(true);
        var run = await fx.Dag($"{tag}-a").TriggerAsync(new TriggerRequest());
        await fx.WaitForRunEndAsync($"{tag}-a", run.RunId);
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while ((await ByTagAsync(tag)).Items[0].LastRunState != RunState.Succeeded && DateTime.UtcNow < deadline)
        {
            await System.Threading.Tasks.Task.Delay(20);
        }

        var changed = await ByTagAsync(tag);
        Assert.Equal(RunState.Succeeded, changed.Items[0].LastRunState);
        Assert.Equal(run.RunId, changed.Items[0].RecentRuns.Single().RunId);
        Assert.True(changed.Items[1].Paused);
        Assert.Null(changed.Items[1].NextRunAt);
        Assert.Equal([$"{tag}-b"], (await Registry.QueryAsync(new DagQuery { Tag = tag, Paused = true })).Items.Select(d => d.DagId));

        await fx.Dag($"{tag}-a").DeleteAsync();
        Assert.Equal([$"{tag}-b"], (await ByTagAsync(tag)).Items.Select(d => d.DagId));
    }

    [Fact]
    public async Task NewActivation_ReadsEveryRowFromItsDagGrain()
    {
        var tag = Guid.NewGuid().ToString("N");
        for (var i = 0; i < 5; i++)
        {
            await fx.Dag($"{tag}-{i}").ApplyAsync(Tagged($"{tag}-{i}", tag, $"owner-{i % 2}"));
        }
        await fx.Dag($"{tag}-3").SetPausedAsync(true);
        var before = await ByTagAsync(tag);

        await Registry.Cast<IGrainManagementExtension>().DeactivateOnIdle();
        var management = fx.Grains.GetGrain<IManagementGrain>(0);
        var registryId = Registry.GetGrainId();
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while ((await management.GetActiveGrains(registryId.Type)).Contains(registryId))
        {
            Assert.True(DateTime.UtcNow < deadline, "the registry did not deactivate");
            await System.Threading.Tasks.Task.Delay(20);
        }

        var after = await ByTagAsync(tag);
        Assert.Equal(before.Items.ToArray(), after.Items.ToArray());
        Assert.Equal(5, after.Matching);
        Assert.Equal([$"{tag}-3"], (await Registry.QueryAsync(new DagQuery { Tag = tag, Paused = true })).Items.Select(d => d.DagId));
        Assert.Contains(new FacetCount(tag, 5), (await Registry.GetFacetsAsync([])).Tags);
    }
}
