using System.Collections.Immutable;
using Batchyard.Dags;
using Batchyard.Datasets;
using Batchyard.Grains;
using Batchyard.Runs;
using Orleans.Core.Internal;
using static Batchyard.Tests.TestDags;

namespace Batchyard.Tests.Datasets;

public sealed class DatasetTests(ClusterFixture fx) : IClassFixture<ClusterFixture>
{
    private IDatasetGrain Dataset(string name) => fx.Grains.GetGrain<IDatasetGrain>(name);

    private static DagDefinition Producer(string dagId, string dataset) =>
        Dag(dagId, Task("make") with { Produces = [dataset] });

    private static DagDefinition Consumer(string dagId, params string[] datasets) =>
        Dag(dagId, Task("use")) with { OnDatasets = [.. datasets] };

    private async Task<List<RunSummary>> DatasetRunsAsync(string dagId) =>
        [.. (await fx.Dag(dagId).GetAsync())!.RecentRuns.Where(r => r.RunType == "dataset")];

    /// <summary>Waits (bounded) until <paramref name="condition"/> holds.</summary>
    private async Task WaitUntilAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (DateTime.UtcNow < deadline)
        {
            if (await condition())
            {
                return;
            }
            await System.Threading.Tasks.Task.Delay(10);
        }
        throw new TimeoutException("timed out waiting until " + what);
    }

    private async Task<bool> PendingAsync(string dagId, string dataset, long seq) =>
        (await fx.Dag(dagId).GetAsync())!.PendingDatasets.Any(u => u.Dataset == dataset && u.Seq == seq);

    private async Task ProduceAsync(string producerId)
    {
        var run = await fx.Dag(producerId).TriggerAsync(new TriggerRequest());
        var ended = await fx.WaitForRunEndAsync(producerId, run.RunId);
        Assert.Equal(RunState.Succeeded, ended.State);
    }

    [Fact]
    public async Task ConsumerOfTwo_RunsOnceBothWereUpdated_AndNotAgainForOneAlone()
    {
        await fx.Dag("ds2-prod-a").ApplyAsync(Producer("ds2-prod-a", "ds2-a"));
        await fx.Dag("ds2-prod-b").ApplyAsync(Producer("ds2-prod-b", "ds2-b"));
        await fx.Dag("ds2-cons").ApplyAsync(Consumer("ds2-cons", "ds2-a", "ds2-b"));

        await ProduceAsync("ds2-prod-a");
        await WaitUntilAsync(() => PendingAsync("ds2-cons", "ds2-a", 1), "the consumer heard of a#1");
        Assert.Empty(await DatasetRunsAsync("ds2-cons"));

        await ProduceAsync("ds2-prod-b");
        await WaitUntilAsync(async () => (await DatasetRunsAsync("ds2-cons")).Count > 0, "the consumer ran");
        var run = Assert.Single(await DatasetRunsAsync("ds2-cons"));
        var details = await fx.WaitForRunEndAsync("ds2-cons", run.RunId);
        Assert.Equal(RunState.Succeeded, details.State);
        Assert.Equal<string>(["ds2-a", "ds2-b"], details.TriggeringDatasets.Select(u => u.Dataset));
        Assert.Equal("ds2-prod-b", details.TriggeringDatasets[1].Source.DagId);
        Assert.Equal("make", details.TriggeringDatasets[1].Source.TaskId);
        Assert.Empty((await fx.Dag("ds2-cons").GetAsync())!.PendingDatasets);

        await ProduceAsync("ds2-prod-a");
        await WaitUntilAsync(() => PendingAsync("ds2-cons", "ds2-a", 2), "the consumer heard of a#2");
        Assert.Single(await DatasetRunsAsync("ds2-cons"));

        var a = (await Dataset("ds2-a").GetAsync())!;
        Assert.Equal(2, a.LastUpdate!.Seq);
        Assert.Equal<string>(["ds2-cons"], a.Consumers);
        Assert.Equal("ds2-prod-a", Assert.Single(a.Producers).DagId);
        Assert.Null(a.Warning);
    }

    [Fact]
    public async Task Record_SameKeyTwice_RecordsOneUpdate()
    {
        var request = new DatasetUpdateRequest { Key = "d/r/t/1", Source = new DatasetSource { DagId = "d", RunId = "r", TaskId = "t" } };

        var first = await Dataset("ds-once").RecordAsync(request);
        var second = await Dataset("ds-once").RecordAsync(request);
        var third = await Dataset("ds-once").RecordAsync(request with { Key = "d/r/t/2" });

        Assert.Equal(1, first.Seq);
        Assert.Equal(first, second);
        Assert.Equal(2, third.Seq);
        Assert.Equal(2, (await Dataset("ds-once").GetAsync())!.RecentUpdates.Length);
    }

    [Fact]
    public async Task CrashBetweenUpdateAndRun_MakesExactlyOneRun()
    {
        const string dagId = "ds-crash";
        var dag = fx.Dag(dagId);
        await dag.ApplyAsync(Consumer(dagId, "ds-crash-x"));
        // Paused, the DAG keeps the update and makes no run: the moment a crash would cut in.
        await dag.SetPausedAsync(true);
        var update = await Dataset("ds-crash-x").RecordAsync(new DatasetUpdateRequest { Key = "ext-1", Source = new DatasetSource { Extra = """{"file":"x.csv"}""" } });
        await WaitUntilAsync(() => PendingAsync(dagId, "ds-crash-x", 1), "the consumer heard of x#1");

        // The DAG made its run and died before it wrote down that the update was consumed.
        var runId = DagGrain.DatasetRunId([update]);
        var definition = (await dag.GetAsync())!.Definition!;
        Assert.NotNull(await fx.Run(dagId, runId).CreateAsync(new RunStart { Dag = definition, RunId = runId, RunType = "dataset", StartNow = false, TriggeringDatasets = [update] }));
        await dag.Cast<IGrainManagementExtension>().DeactivateOnIdle();
        await Dataset("ds-crash-x").Cast<IGrainManagementExtension>().DeactivateOnIdle();

        // Back up: it redoes the run from the same update, and the dataset (activated again) tells it again.
        await dag.SetPausedAsync(false);
        await dag.OnDatasetUpdatedAsync(update);
        Assert.NotNull(await Dataset("ds-crash-x").GetAsync());
        await dag.OnDatasetUpdatedAsync(update);

        var run = Assert.Single(await DatasetRunsAsync(dagId));
        Assert.Equal(runId, run.RunId);
        Assert.Empty((await dag.GetAsync())!.PendingDatasets);
    }

    [Fact]
    public async Task TriggeringDatasets_AreRenderedInTheTask()
    {
        const string dagId = "ds-render";
        await fx.Dag(dagId).ApplyAsync(Dag(dagId, Task("use") with { Command = ["hold", "{{ triggering_datasets.0.name }}#{{ triggering_datasets.0.seq }}", "{{ triggering_datasets.0.source.extra.file }}"] }) with { OnDatasets = ["ds-render-in"] });

        await Dataset("ds-render-in").RecordAsync(new DatasetUpdateRequest { Key = "ext-r", Source = new DatasetSource { Extra = """{"file":"in.csv"}""" } });

        await WaitUntilAsync(async () => (await DatasetRunsAsync(dagId)).Count > 0, "the consumer ran");
        var run = Assert.Single(await DatasetRunsAsync(dagId));
        await fx.WaitForRunAsync(dagId, run.RunId, r => r.Tasks.Any(t => t.Attempts.Any(a => a.JobId is not null)));
        var job = fx.Backend.Submitted.Single(name => fx.Backend.CommandOf(name) is ["hold", "ds-render-in#1", ..]);
        Assert.Equal<string>(["hold", "ds-render-in#1", "in.csv"], fx.Backend.CommandOf(job));
        fx.Backend.Release(job, succeed: true);
        Assert.Equal(RunState.Succeeded, (await fx.WaitForRunEndAsync(dagId, run.RunId)).State);
    }

    [Fact]
    public async Task ConsumingADatasetNobodyProduces_IsAWarningUntilAProducerComes()
    {
        var info = await fx.Dag("ds-lonely").ApplyAsync(Consumer("ds-lonely", "ds-nobody"));

        var warning = Assert.Single(info.Warnings);
        Assert.Contains("ds-nobody", warning, StringComparison.Ordinal);
        Assert.Empty(info.LoadErrors);
        Assert.NotNull((await Dataset("ds-nobody").GetAsync())!.Warning);

        await fx.Dag("ds-lonely-prod").ApplyAsync(Producer("ds-lonely-prod", "ds-nobody"));

        Assert.Empty((await fx.Dag("ds-lonely").GetAsync())!.Warnings);
        Assert.Null((await Dataset("ds-nobody").GetAsync())!.Warning);
    }

    [Fact]
    public async Task ChangedAndDeletedDags_UpdateProducersAndConsumers()
    {
        await fx.Dag("ds-link").ApplyAsync(Dag("ds-link", Task("make") with { Produces = ["ds-link-1"] }) with { OnDatasets = ["ds-link-2"] });
        await fx.Dag("ds-link").ApplyAsync(Dag("ds-link", Task("make") with { Produces = ["ds-link-2"] }));

        var one = (await Dataset("ds-link-1").GetAsync())!;
        var two = (await Dataset("ds-link-2").GetAsync())!;
        Assert.Empty(one.Producers);
        Assert.Empty(two.Consumers);
        Assert.Equal("make", Assert.Single(two.Producers).TaskId);
        Assert.Contains("ds-link-2", await fx.Grains.GetGrain<IDatasetRegistryGrain>(0).ListAsync());

        await fx.Dag("ds-link").DeleteAsync();
        Assert.Empty((await Dataset("ds-link-2").GetAsync())!.Producers);
    }
}
