using Microsoft.Extensions.DependencyInjection;
using Batchyard.Grains;
using Batchyard.Runs;
using Batchyard.SageMakerEmulator;

namespace Batchyard.SageMaker.Tests.EndToEnd;

/// <summary>A silo with a quota of 2 <c>ml.g5.xlarge</c> instances and a short capacity backoff.</summary>
public sealed class CapacityClusterFixture : SageMakerClusterFixture
{
    public const string QuotaType = "ml.g5.xlarge";

    protected override IReadOnlyDictionary<string, string?> SiloSettings { get; } = new Dictionary<string, string?>
    {
        [$"Batchyard:Quotas:{QuotaType}"] = "2",
        ["Batchyard:Capacity:RetryDelay"] = "00:00:00.100",
        ["Batchyard:Capacity:MaxRetryDelay"] = "00:00:00.400",
    };
}

/// <summary>Spot training, quotas and capacity refusals, end to end through the grains and the wire, against the emulator.</summary>
public sealed class CapacityDagTests(CapacityClusterFixture fx) : IClassFixture<CapacityClusterFixture>
{
    private const string Image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/batch:1";

    private static TaskInstanceDetails TaskOf(RunDetails run, string taskId) => run.Tasks.Single(t => t.TaskId == taskId);

    private static double Seconds(AttemptDetails attempt, string key) =>
        double.Parse(attempt.Details[key], System.Globalization.CultureInfo.InvariantCulture);

    [Fact]
    public async Task SpotTraining_InterruptedOnce_RetriesAndSucceeds_ShowingItsSavingAndWarmPool()
    {
        var run = await fx.TriggerAsync($$$"""
            tasks:
              fit:
                backend: sagemaker-training
                image: {{{Image}}}
                output_path: s3://bucket/models
                checkpoint_s3: s3://bucket/checkpoints/fit
                timeout: 1h
                retries: 1
                retry_delay: 100ms
                resources: { instance_type: ml.g5.xlarge, spot: true, max_wait: 2h, keep_alive: 10m }
                env: { BATCHYARD_EMULATOR: "queued=100ms;run=2s;interruptfirst=1;spotsaving=0.75;attempt={{ attempt }}" }
            """, "spot-interrupted");

        var done = await fx.WaitAsync(run, r => r.State.IsFinal(), seconds: 60);

        Assert.Equal(RunState.Succeeded, done.State);
        var attempts = TaskOf(done, "fit").Attempts;
        Assert.Equal(2, attempts.Length);
        Assert.Equal(AttemptState.Failed, attempts[0].State);
        Assert.StartsWith("spot interruption: ", attempts[0].Reason);
        Assert.Equal("Interrupted", attempts[0].Details["secondaryStatus"]);

        var ok = attempts[1];
        Assert.Equal(AttemptState.Succeeded, ok.State);
        var billable = Seconds(ok, "billableSeconds");
        var training = Seconds(ok, "trainingSeconds");
        Assert.True(billable < training, $"a spot job is billed less than it ran: {billable} of {training} s");
        Assert.Equal(1 - (billable / training), Seconds(ok, "spotSaving"), precision: 3);
        Assert.Equal("Available", ok.Details["warmPoolStatus"]);

        // Every field went over the wire, and the emulator checked it against the model.
        var job = fx.JobsOf("spot-interrupted").Single(j => j.Name.Contains("-a2-", StringComparison.Ordinal));
        Assert.True(job.Request.GetProperty("EnableManagedSpotTraining").GetBoolean());
        Assert.Equal(7200, job.Request.GetProperty("StoppingCondition").GetProperty("MaxWaitTimeInSeconds").GetInt32());
        Assert.Equal(3600, job.Request.GetProperty("StoppingCondition").GetProperty("MaxRuntimeInSeconds").GetInt32());
        Assert.Equal("s3://bucket/checkpoints/fit", job.Request.GetProperty("CheckpointConfig").GetProperty("S3Uri").GetString());
        Assert.Equal(600, job.Request.GetProperty("ResourceConfig").GetProperty("KeepAlivePeriodInSeconds").GetInt32());
    }

    [Fact]
    public async Task QuotaOfTwo_FiveTasks_NeverMoreThanTwoInstancesAtOnce_AndAllFinish()
    {
        var tasks = string.Concat(Enumerable.Range(1, 5).Select(i => $$$"""
              fit{{{i}}}:
                backend: sagemaker-training
                image: {{{Image}}}
                output_path: s3://bucket/models
                resources: { instance_type: {{{CapacityClusterFixture.QuotaType}}} }
                env: { BATCHYARD_EMULATOR: "queued=100ms;run=700ms" }

            """));
        var run = await fx.TriggerAsync("tasks:\n" + tasks, "quota-two");

        // Three of the five wait for the quota at first, saying so.
        var waiting = await fx.WaitAsync(run, r => r.Tasks.Any(t => t.Attempts.Any(a => a.State == AttemptState.Queued && a.Reason?.StartsWith("waiting for quota: ", StringComparison.Ordinal) == true)));
        var reason = waiting.Tasks.SelectMany(t => t.Attempts).First(a => a.Reason?.StartsWith("waiting for quota", StringComparison.Ordinal) == true).Reason;
        Assert.StartsWith($"waiting for quota: {CapacityClusterFixture.QuotaType} 2 of 2 in use", reason);
        var quota = await fx.Cluster.Client.GetGrain<IPoolGrain>($"quota:{CapacityClusterFixture.QuotaType}").GetAsync();
        Assert.Equal("quota", quota.Kind);
        Assert.Equal(2, quota.Slots);
        Assert.True(quota.InUse <= 2, $"{quota.InUse} instances in use");

        var done = await fx.WaitAsync(run, r => r.State.IsFinal(), seconds: 90);

        Assert.Equal(RunState.Succeeded, done.State);
        Assert.All(done.Tasks, t => Assert.Equal(AttemptState.Succeeded, Assert.Single(t.Attempts).State));
        Assert.Equal(5, fx.JobsOf("quota-two").Count());
        // Counted where the jobs run: from each create to its end.
        Assert.Equal(2, fx.Rig.Emulator.Jobs.MaxInstancesAtOnce(CapacityClusterFixture.QuotaType));
        var after = await fx.Cluster.Client.GetGrain<IPoolGrain>($"quota:{CapacityClusterFixture.QuotaType}").GetAsync();
        Assert.Equal(0, after.InUse);
        Assert.Empty(after.Waiting);
    }

    [Fact]
    public async Task CapacityErrorStorm_TwentyTasks_NoFailure_WaitingReasonWhileQueued()
    {
        var tasks = string.Concat(Enumerable.Range(1, 20).Select(i => $$$"""
              prep{{{i}}}:
                backend: sagemaker
                image: {{{Image}}}
                env: { BATCHYARD_EMULATOR: "queued=100ms;run=300ms" }

            """));
        var refusedBefore = fx.Rig.Emulator.Stats.CapacityRefusals;
        fx.Rig.Emulator.Faults.Settings = new FaultSettings { ResourceLimitTimes = 3 };
        try
        {
            var run = await fx.TriggerAsync("tasks:\n" + tasks, "capacity-storm");

            var waiting = await fx.WaitAsync(run, r => r.Tasks.Any(t => t.Attempts.Any(a => a.State == AttemptState.Queued && a.Reason?.StartsWith("waiting for capacity: ", StringComparison.Ordinal) == true)));
            Assert.Contains(waiting.Tasks.SelectMany(t => t.Attempts), a => a.Reason?.Contains("account-level service limit", StringComparison.Ordinal) == true);

            RunDetails done;
            try
            {
                done = await fx.WaitAsync(run, r => r.State.IsFinal(), seconds: 120);
            }
            catch (TimeoutException)
            {
                // Say which attempts are stuck and what the emulator has of their jobs.
                var now = DateTimeOffset.UtcNow;
                var last = await fx.Cluster.Client.GetGrain<IDagRunGrain>(RunKeys.Run(run.DagId, run.RunId)).GetAsync();
                var dump = string.Join("\n", last!.Tasks.Where(t => t.State != TaskState.Succeeded).Select(t => t.TaskId + ": " + string.Join("; ", t.Attempts.Select(a => $"{a.State} {a.JobId} {a.Reason} {string.Join(",", a.Details.Select(d => d.Key + "=" + d.Value))}"))));
                var jobs = string.Join("\n", fx.JobsOf("capacity-storm").Select(j => $"{j.Name} {j.ViewAt(now).Status} describes={j.DescribeCalls}"));
                throw new TimeoutException(dump + "\n---\n" + jobs);
            }

            Assert.Equal(RunState.Succeeded, done.State);
            Assert.All(done.Tasks, t =>
            {
                var attempt = Assert.Single(t.Attempts);
                Assert.Equal(AttemptState.Succeeded, attempt.State);
                Assert.Null(attempt.Reason);
            });
            Assert.Equal(20 * 3, fx.Rig.Emulator.Stats.CapacityRefusals - refusedBefore);
            // One job per task: every refused create was made again under the same name.
            Assert.Equal(20, fx.JobsOf("capacity-storm").Count());
        }
        finally
        {
            fx.Rig.Emulator.Faults.Settings = new FaultSettings();
        }
    }

    [Fact]
    public async Task WarmPool_OutlivesTheRun_IsFollowedUntilTerminated_AndItsRetainedTimeIsPriced()
    {
        var run = await fx.TriggerAsync($$$"""
            tasks:
              fit:
                backend: sagemaker-training
                image: {{{Image}}}
                output_path: s3://bucket/models
                resources: { instance_type: ml.g5.xlarge, instance_count: 2, keep_alive: 10m }
                env: { BATCHYARD_EMULATOR: "queued=100ms;run=500ms;keepalive=3s" }
            """, "warm-lapses");

        // The run ends with its job; the pool is still there, and followed.
        var done = await fx.WaitAsync(run, r => r.State.IsFinal(), seconds: 60);
        Assert.Equal(RunState.Succeeded, done.State);
        var ended = Assert.Single(TaskOf(done, "fit").Attempts);
        Assert.Equal("Available", ended.Details["warmPoolStatus"]);
        var billable = Seconds(ended, "billableSeconds");
        Assert.Equal(billable * 2, ended.Cost!.ComputeSeconds);
        var follower = fx.Cluster.Client.GetGrain<IAfterEndGrain>(Batchyard.Backends.JobNames.For("warm-lapses", run.RunId, "fit", 1));
        Assert.NotNull(await follower.GetAsync());
        // It holds its order durably: an activation lost meanwhile (its reminder brings it back after a crash) resumes it.
        await fx.Cluster.Client.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);
        Assert.NotNull(await follower.GetAsync());

        // Once the keep-alive lapses, the attempt says so and costs its retained time too.
        var lapsed = await fx.WaitAsync(run, r => TaskOf(r, "fit").Attempts[0].Details.GetValueOrDefault("warmPoolStatus") == "Terminated", seconds: 60);
        Assert.Equal(RunState.Succeeded, lapsed.State);
        var attempt = TaskOf(lapsed, "fit").Attempts[0];
        Assert.Equal(3, Seconds(attempt, "warmPoolBillableSeconds"));
        Assert.Equal((billable + 3) * 2, attempt.Cost!.ComputeSeconds);
        Assert.Contains("+ 3 s warm pool", attempt.Cost.Basis, StringComparison.Ordinal);
        Assert.True(attempt.Cost.Usd > ended.Cost.Usd, $"{attempt.Cost.Usd} after the pool, {ended.Cost.Usd} before");
        Assert.Null(await follower.GetAsync());

        // The cost projection has the amended figure, once (not the attempt twice).
        var history = fx.Silo.GetRequiredService<Batchyard.History.IRunHistoryStore>();
        var cells = await history.SumCostsAsync(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        var cell = Assert.Single(cells, c => c.DagId == "warm-lapses");
        Assert.Equal(1, cell.Attempts);
        Assert.Equal(attempt.Cost.ComputeSeconds, cell.ComputeSeconds);
    }

    [Fact]
    public async Task WarmPool_ReusedByTheNextMatchingTask_NamesItAndBillsTheTimeBetween()
    {
        var run = await fx.TriggerAsync($$$"""
            flow: first >> second
            tasks:
              first:
                backend: sagemaker-training
                image: {{{Image}}}
                output_path: s3://bucket/models
                resources: { instance_type: ml.g5.xlarge, keep_alive: 10m }
                env: { BATCHYARD_EMULATOR: "queued=2s;run=300ms;keepalive=60s" }
              second:
                backend: sagemaker-training
                image: {{{Image}}}
                output_path: s3://bucket/models
                resources: { instance_type: ml.g5.xlarge, keep_alive: 10m }
                env: { BATCHYARD_EMULATOR: "queued=2s;run=300ms;keepalive=2s" }
            """, "warm-reused");

        var done = await fx.WaitAsync(run, r => r.State.IsFinal()
            && TaskOf(r, "first").Attempts[0].Details.GetValueOrDefault("warmPoolStatus") == "Reused"
            && TaskOf(r, "second").Attempts[0].Details.GetValueOrDefault("warmPoolStatus") == "Terminated", seconds: 60);

        Assert.Equal(RunState.Succeeded, done.State);
        var first = TaskOf(done, "first").Attempts[0];
        var second = TaskOf(done, "second").Attempts[0];
        Assert.Equal(second.Details["jobName"], first.Details["warmPoolReusedBy"]);
        // Kept from the first job's end to the second's create: the hand-off, well under the first's keep-alive.
        Assert.InRange(Seconds(first, "warmPoolBillableSeconds"), 0, 10);
        Assert.Equal(2, Seconds(second, "warmPoolBillableSeconds"));
        // The second job ran on the warm pool: no provisioning (its script's 2 s queue) before it trained.
        var secondJob = fx.JobsOf("warm-reused").Single(j => j.Name == second.Details["jobName"]);
        Assert.True(secondJob.WarmStart);
        Assert.True(second.StartedAt - second.QueuedAt < TimeSpan.FromSeconds(2), $"started {second.StartedAt - second.QueuedAt} after it was queued (queued {second.QueuedAt:O}, started {second.StartedAt:O}, created {secondJob.CreatedAt:O}, {second.Details.GetValueOrDefault("secondaryStatusTransitions")})");
    }
}
