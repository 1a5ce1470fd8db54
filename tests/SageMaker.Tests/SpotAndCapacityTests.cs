using System.Net;
using Batchyard.Aws;
using Batchyard.Backends;
using Batchyard.Backends.Local;
using Batchyard.Backends.SageMaker;
using Batchyard.Dags;
using Batchyard.Logs;
using Batchyard.SageMakerEmulator;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Batchyard.SageMaker.Tests;

/// <summary>Spot training and warm pool fields (load-time checks, the request on the wire) and capacity refusals on create.</summary>
public sealed class SpotAndCapacityTests
{
    private const string Image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/batch:1";

    private static readonly string BadDag = $"""
        tasks:
          proc:
            backend: sagemaker
            image: {Image}
            resources:
              spot: true
              keep_alive: 5m
          short:
            backend: sagemaker-training
            image: {Image}
            output_path: s3://bucket/models
            timeout: 2h
            resources:
              spot: true
              max_wait: 1h
          nospot:
            backend: sagemaker-training
            image: {Image}
            output_path: s3://bucket/models
            resources:
              max_wait: 3h
          longwarm:
            backend: sagemaker-training
            image: {Image}
            output_path: s3://bucket/models
            resources:
              keep_alive: 2h
          onlocal:
            backend: local
            command: [echo, hi]
            resources:
              spot: true
        """;

    [Fact]
    public async Task Parse_RefusesEveryBadSpotAndWarmPoolCombination_WithFileAndLine()
    {
        await using var rig = await SageMakerRig.StartAsync();
        await using var local = new LocalJobBackend(Options.Create(new LocalBackendOptions()), TimeProvider.System, NullLogger<LocalJobBackend>.Instance);
        var catalog = new BackendCatalog([rig.Processing, rig.Training, local]);

        var parsed = DagParser.Parse("spot.yaml", BadDag, catalog, "spot");

        Assert.False(parsed.Ok);
        var problems = parsed.Problems.Select(p => p.ToString()).ToList();
        void Has(int line, string words) =>
            Assert.True(problems.Any(p => p.StartsWith($"spot.yaml:{line}: ", StringComparison.Ordinal) && p.Contains(words, StringComparison.Ordinal)),
                $"no problem at line {line} saying '{words}' in:\n{string.Join("\n", problems)}");
        Has(6, "spot instances are for training jobs");
        Has(7, "warm pools are for training jobs");
        Has(15, "must be at least the task's timeout (7200 s)");
        Has(21, "needs 'resources.spot: true'");
        Has(27, "at most 1h (3600 s)");
        Has(32, "the local backend has no spot instances");
        Assert.Equal(6, problems.Count);
    }

    [Fact]
    public async Task Parse_SpotWithoutMaxWait_WaitsTwiceItsRuntime()
    {
        await using var rig = await SageMakerRig.StartAsync();
        var parsed = DagParser.Parse("ok.yaml", $"""
            tasks:
              fit:
                backend: sagemaker-training
                image: {Image}
                output_path: s3://bucket/models
                timeout: 30m
                resources: {"{"} spot: true {"}"}
            """, new BackendCatalog([rig.Training]), "ok");

        Assert.True(parsed.Ok, string.Join("\n", parsed.Problems));
        var request = SageMakerTaskMapping.TrainingRequest("n", SageMakerRig.Request(SageMakerRig.Job("fit", backend: "sagemaker-training"), parsed.Dag!.Tasks[0], new MemoryAttemptLog()), SageMakerRig.RoleArn);
        Assert.True(request.EnableManagedSpotTraining);
        Assert.Equal(1800, request.StoppingCondition.MaxRuntimeInSeconds);
        Assert.Equal(3600, request.StoppingCondition.MaxWaitTimeInSeconds);
        Assert.Null(request.CheckpointConfig);
        Assert.Null(request.ResourceConfig.KeepAlivePeriodInSeconds);
    }

    [Fact]
    public void OnDemandTrainingRequest_LeavesTheSpotFieldsOut()
    {
        var task = SageMakerRig.Task("run=1s", backend: "sagemaker-training");
        var request = SageMakerTaskMapping.TrainingRequest("n", SageMakerRig.Request(SageMakerRig.Job("t", backend: "sagemaker-training"), task, new MemoryAttemptLog()), SageMakerRig.RoleArn);
        Assert.Null(request.EnableManagedSpotTraining);
        Assert.Null(request.StoppingCondition.MaxWaitTimeInSeconds);
    }

    [Fact]
    public async Task Submit_RefusedForCapacity_IsAWaitNotAFailure_AndLandsUnderTheSameName()
    {
        await using var rig = await SageMakerRig.StartAsync();
        rig.Emulator.Faults.Settings = new FaultSettings { ResourceLimitTimes = 2 };
        var job = SageMakerRig.Job("limited");
        var task = SageMakerRig.Task("run=5s");

        for (var i = 0; i < 2; i++)
        {
            var refused = await Assert.ThrowsAsync<BackendCapacityException>(() => rig.Processing.SubmitAsync(SageMakerRig.Request(job, task, new MemoryAttemptLog()), CancellationToken.None));
            Assert.Contains("account-level service limit", refused.Message, StringComparison.Ordinal);
        }
        var status = await rig.Processing.SubmitAsync(SageMakerRig.Request(job, task, new MemoryAttemptLog()), CancellationToken.None);

        Assert.Equal(JobState.Queued, status.State);
        Assert.Single(rig.Emulator.Jobs.All);
        Assert.Equal(SageMakerJobNames.For(job), rig.Emulator.Jobs.All.Single().Name);
        Assert.Equal(2, rig.Emulator.Stats.CapacityRefusals);
    }

    [Fact]
    public async Task Submit_WhileTheAccountsInstancesOfATypeAreInUse_IsRefusedForCapacity()
    {
        await using var rig = await SageMakerRig.StartAsync();
        rig.Emulator.Faults.Settings = new FaultSettings { ResourceLimitInstances = 2 };
        var task = SageMakerRig.Task("run=30s", backend: "sagemaker-training") with { Resources = new TaskResources { InstanceType = "ml.g5.xlarge", InstanceCount = 2 } };

        await rig.Training.SubmitAsync(SageMakerRig.Request(SageMakerRig.Job("first", backend: "sagemaker-training"), task, new MemoryAttemptLog()), CancellationToken.None);
        await Assert.ThrowsAsync<BackendCapacityException>(() =>
            rig.Training.SubmitAsync(SageMakerRig.Request(SageMakerRig.Job("second", backend: "sagemaker-training"), task, new MemoryAttemptLog()), CancellationToken.None));
        Assert.Equal(2, rig.Emulator.Jobs.MaxInstancesAtOnce("ml.g5.xlarge"));
    }

    [Theory]
    [InlineData("ResourceLimitExceeded", "The account-level service limit 'ml.p3.2xlarge for training job usage' is 0 Instances", true)]
    [InlineData("ValidationException", "The account-level service limit 'ml.g5.xlarge for spot training job usage' is 1 Instances, with current utilization of 1 Instances", true)]
    [InlineData("ValidationException", "You have reached the resource limit for processing jobs", true)]
    [InlineData("ValidationException", "1 validation error detected: Value 'x' at 'roleArn' failed to satisfy constraint", false)]
    [InlineData("AccessDeniedException", "User is not authorized to perform: sagemaker:CreateTrainingJob", false)]
    public void CapacityErrors_AreTheInstanceLimitsOnly(string code, string message, bool capacity)
    {
        var error = AwsErrorDecoder.Decode(HttpStatusCode.BadRequest, null, null, $$"""{"__type":"{{code}}","message":"{{message}}"}""");
        Assert.Equal(capacity, SageMakerCapacity.IsCapacityError(error));
    }

    [Fact]
    public void SpotJobInterrupted_FailsWithItsReason_AndAJobThatFailedAfterAResumeDoesNot()
    {
        var at = DateTimeOffset.UnixEpoch;
        var interrupted = new SageMakerJobSnapshot
        {
            Kind = SageMakerJobKind.Training,
            Name = "j",
            Status = "Failed",
            SecondaryStatus = "Interrupted",
            Spot = true,
            FailureReason = "Training job interrupted: the Spot capacity was reclaimed",
        };
        var status = SageMakerTaskMapping.ToStatus(interrupted, stopRequested: false);
        Assert.Equal(JobState.Failed, status.State);
        Assert.Equal("spot interruption: Training job interrupted: the Spot capacity was reclaimed", status.Reason);

        var resumedThenBroke = interrupted with
        {
            SecondaryStatus = "Failed",
            FailureReason = "AlgorithmError: exit 1",
            Transitions = [new() { Status = "Training", StartTime = at }, new() { Status = "Interrupted", StartTime = at }, new() { Status = "Training", StartTime = at }, new() { Status = "Failed", StartTime = at }],
        };
        Assert.Equal("AlgorithmError: exit 1", SageMakerTaskMapping.ToStatus(resumedThenBroke, stopRequested: false).Reason);

        var waitedTooLong = interrupted with { Status = "Stopped", SecondaryStatus = "MaxWaitTimeExceeded", FailureReason = null };
        var waited = SageMakerTaskMapping.ToStatus(waitedTooLong, stopRequested: false);
        Assert.Equal(JobState.Failed, waited.State);
        Assert.StartsWith("spot capacity: the job did not finish within max_wait", waited.Reason);
    }
}
