using System.Globalization;
using Batchyard.Backends;
using Batchyard.Costs;
using Batchyard.Dags;

namespace Batchyard.SageMaker.Tests;

/// <summary>An attempt's cost from what Describe reports at its end: instances, billable or start-to-end seconds, the region's price.</summary>
public sealed class SageMakerCostTests
{
    private static readonly AttemptCosts Costs = new(new PriceTable([]), new LocalPrices());

    private static TaskDefinition OnInstances(TaskDefinition task, string type, int count) =>
        task with { Resources = task.Resources with { InstanceType = type, InstanceCount = count } };

    [Fact]
    public async Task Processing_attempt_costs_its_start_to_end_times_its_instances_at_the_list_price()
    {
        await using var rig = await SageMakerRig.StartAsync();
        var seen = await SageMakerRig.RunToEndAsync(rig.Processing, SageMakerRig.Job("priced"), OnInstances(SageMakerRig.Task("queued=100ms;run=1200ms"), "ml.m5.xlarge", 2));
        var last = seen[^1];

        var cost = Costs.Of(last.Details, last.StartedAt, last.EndedAt)!;

        Assert.Equal(JobState.Succeeded, last.State);
        Assert.Equal("ml.m5.xlarge", last.Details[CostFacts.InstanceType]);
        Assert.Equal("2", last.Details[CostFacts.InstanceCount]);
        Assert.Equal("us-east-1", last.Details[CostFacts.Region]);
        var seconds = Math.Round((last.EndedAt!.Value - last.StartedAt!.Value).TotalSeconds, 3);
        Assert.True(seconds > 0, "the emulator reported no processing time");
        Assert.Equal(seconds * 2, cost.ComputeSeconds);
        Assert.Equal(Math.Round((decimal)(seconds * 2) * 0.23m / 3600m, 6, MidpointRounding.AwayFromZero), cost.Usd);
        Assert.StartsWith($"2 x ml.m5.xlarge, {seconds.ToString(CultureInfo.InvariantCulture)} s at 0.23 USD/h", cost.Basis, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Training_attempt_costs_its_billable_seconds_times_its_instances()
    {
        await using var rig = await SageMakerRig.StartAsync();
        var seen = await SageMakerRig.RunToEndAsync(rig.Training, SageMakerRig.Job("fit", backend: "sagemaker-training"),
            OnInstances(SageMakerRig.Task("run=1200ms", backend: "sagemaker-training"), "ml.g4dn.xlarge", 3));
        var last = seen[^1];

        var cost = Costs.Of(last.Details, last.StartedAt, last.EndedAt)!;

        Assert.Equal(JobState.Succeeded, last.State);
        var billable = int.Parse(last.Details[CostFacts.BillableSeconds], CultureInfo.InvariantCulture);
        Assert.Equal(last.Details[CostFacts.TrainingSeconds], last.Details[CostFacts.BillableSeconds]);
        Assert.Equal(billable * 3, cost.ComputeSeconds);
        Assert.Equal(Math.Round(billable * 3 * 0.7364m / 3600m, 6, MidpointRounding.AwayFromZero), cost.Usd);
        Assert.StartsWith($"3 x ml.g4dn.xlarge, {billable} s at 0.7364 USD/h", cost.Basis, StringComparison.Ordinal);
        Assert.DoesNotContain("spot", cost.Basis, StringComparison.Ordinal);
    }
}
