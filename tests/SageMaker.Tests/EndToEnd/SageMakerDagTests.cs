using Batchyard.Aws;
using Batchyard.Backends;
using Batchyard.Backends.SageMaker;
using Batchyard.Dags;
using Batchyard.Grains;
using Batchyard.Logs;
using Batchyard.Runs;
using Batchyard.SageMakerEmulator;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Orleans.TestingHost;

namespace Batchyard.SageMaker.Tests.EndToEnd;

/// <summary>A silo whose <c>sagemaker</c> and <c>sagemaker-training</c> backends talk to the emulator over the real wire.</summary>
public class SageMakerClusterFixture : IAsyncLifetime
{
    /// <summary>Silo configuration beyond the rig's (quotas, backoffs), for fixtures that need some.</summary>
    protected virtual IReadOnlyDictionary<string, string?> SiloSettings { get; } = new Dictionary<string, string?>();

    public SageMakerRig Rig { get; private set; } = null!;

    public InProcessTestCluster Cluster { get; private set; } = null!;

    private readonly string _logs = Path.Combine(Path.GetTempPath(), "batchyard-sm-e2e-" + Guid.NewGuid().ToString("N"));

    public async Task InitializeAsync()
    {
        Rig = await SageMakerRig.StartAsync();
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(Rig.Configuration).Build();
        var credentials = Rig.Credentials;
        var builder = new InProcessTestClusterBuilder(1);
        builder.ConfigureSiloHost((_, host) => host.Configuration.AddInMemoryCollection(SiloSettings));
        builder.ConfigureSilo((_, silo) =>
        {
            silo.AddMemoryGrainStorage(StorageNames.Batchyard);
            silo.UseInMemoryReminderService();
            silo.Services.AddSingleton<IAwsCredentialSource>(new StaticAwsCredentialSource(credentials));
            silo.Services.AddSageMakerBackends(configuration);
            silo.Services.AddBatchyardGrains(_logs);
        });
        Cluster = builder.Build();
        await Cluster.DeployAsync();
    }

    public async Task DisposeAsync()
    {
        await Cluster.DisposeAsync();
        await Rig.DisposeAsync();
        if (Directory.Exists(_logs))
        {
            Directory.Delete(_logs, recursive: true);
        }
    }

    public IServiceProvider Silo => Cluster.Silos[0].ServiceProvider;

    public async Task<RunDetails> TriggerAsync(string yaml, string dagId)
    {
        var parsed = DagParser.Parse(dagId + ".yaml", yaml, Silo.GetRequiredService<BackendCatalog>(), dagId);
        Assert.True(parsed.Ok, string.Join("\n", parsed.Problems));
        var dag = Cluster.Client.GetGrain<IDagGrain>(dagId);
        await dag.ApplyAsync(parsed.Dag!);
        return await dag.TriggerAsync(new());
    }

    public async Task<RunDetails> WaitAsync(RunDetails run, Func<RunDetails, bool> condition, int seconds = 30)
    {
        var grain = Cluster.Client.GetGrain<IDagRunGrain>(RunKeys.Run(run.DagId, run.RunId));
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(seconds);
        RunDetails? last = null;
        while (DateTime.UtcNow < deadline)
        {
            last = await grain.GetAsync();
            if (last is not null && condition(last))
            {
                return last;
            }
            await Task.Delay(25);
        }
        throw new TimeoutException("run did not reach the expected state: " + string.Join(", ", last?.Tasks.Select(t => $"{t.TaskId}={t.State}") ?? []));
    }

    public IEnumerable<EmulatedJob> JobsOf(string dagId) =>
        Rig.Emulator.Jobs.All.Where(j => j.Request.TryGetProperty("Tags", out var tags)
            && tags.EnumerateArray().Any(t => t.GetProperty("Key").GetString() == "batchyard:dag" && t.GetProperty("Value").GetString() == dagId));
}

/// <summary>DAG runs with SageMaker tasks, end to end through the grains and the wire, against the emulator.</summary>
public sealed class SageMakerDagTests(SageMakerClusterFixture fx, Xunit.Abstractions.ITestOutputHelper output) : IClassFixture<SageMakerClusterFixture>
{
    private const string Image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/batch:1";

    private static TaskInstanceDetails TaskOf(RunDetails run, string taskId) => run.Tasks.Single(t => t.TaskId == taskId);

    [Fact]
    public async Task ProcessingThenTraining_Succeed_WithTheirLogsAndBillableSeconds()
    {
        var run = await fx.TriggerAsync($$$"""
            flow: prepare >> fit
            tasks:
              prepare:
                backend: sagemaker
                image: {{{Image}}}
                command: [python3, prepare.py]
                args: [--date, "{{ logical_date }}"]
                env: { BATCHYARD_EMULATOR: "queued=100ms;run=500ms;lines=3" }
                resources: { instance_type: ml.m5.large, instance_count: 2, volume_gb: 30 }
                outputs: [{ name: features, s3_uri: "s3://bucket/features", local_path: /opt/ml/processing/output }]
              fit:
                backend: sagemaker-training
                image: {{{Image}}}
                hyperparameters: { epochs: "3" }
                inputs: [{ name: train, s3_uri: "s3://bucket/features" }]
                output_path: s3://bucket/models
                env: { BATCHYARD_EMULATOR: "queued=100ms;run=500ms;lines=2" }
            """, "sm-success");

        var done = await fx.WaitAsync(run, r => r.State.IsFinal());

        Assert.Equal(RunState.Succeeded, done.State);
        var prepare = TaskOf(done, "prepare").Attempts.Single();
        var fit = TaskOf(done, "fit").Attempts.Single();
        Assert.Matches("^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$", prepare.Details["jobName"]);
        Assert.EndsWith("/" + prepare.Details["jobName"], prepare.JobId, StringComparison.Ordinal);
        Assert.True(fit.Details.ContainsKey("billableSeconds"), "training billable seconds were not kept");
        Assert.Equal(2, fx.JobsOf("sm-success").Count());

        var logs = fx.Silo.GetRequiredService<IAttemptLogStore>();
        var log = await logs.ReadAsync("sm-success", run.RunId, "prepare", 1, 0, 100_000, default);
        Assert.Equal(6, log.Text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
    }

    [Fact]
    public async Task TrainingTask_KeepsItsFinalMetricsAsTheAttemptOutput()
    {
        var run = await fx.TriggerAsync($$$"""
            tasks:
              fit:
                backend: sagemaker-training
                image: {{{Image}}}
                output_path: s3://bucket/models
                env: { BATCHYARD_EMULATOR: "queued=100ms;run=300ms;lines=1;metrics=validation:auc:0.93,train:loss:0.12" }
            """, "sm-metrics");

        var done = await fx.WaitAsync(run, r => r.State.IsFinal());

        Assert.Equal(RunState.Succeeded, done.State);
        Assert.Equal("""{"metrics":{"validation:auc":0.93,"train:loss":0.12}}""", TaskOf(done, "fit").Attempts.Single().Output);
    }

    [Fact]
    public async Task OutputJson_IsReadAfterSuccess_AndFeedsAConditionAndAMap()
    {
        var run = await fx.TriggerAsync($$$"""
            tasks:
              evaluate:
                backend: sagemaker
                image: {{{Image}}}
                output_json: "s3://ml-bucket/eval/{{ run_id }}/metrics.json"
                env:
                  BATCHYARD_EMULATOR: "queued=100ms;run=300ms;lines=1;output=s3://ml-bucket/eval/{{ run_id }}/metrics.json"
                  BATCHYARD_EMULATOR_OUTPUT: '{"auc": 0.91, "segments": ["north", "south"]}'
              per_segment:
                backend: sagemaker
                image: {{{Image}}}
                depends_on: [evaluate]
                map: { over: "{{ tasks.evaluate.output.segments }}" }
                args: [--segment, "{{ item }}"]
                env: { BATCHYARD_EMULATOR: "queued=100ms;run=200ms;lines=1" }
              publish:
                backend: sagemaker
                image: {{{Image}}}
                depends_on: [per_segment]
                when: "{{ tasks.evaluate.output.auc }} >= 0.9"
                env: { BATCHYARD_EMULATOR: "queued=100ms;run=200ms;lines=1" }
            """, "sm-output");

        var done = await fx.WaitAsync(run, r => r.State.IsFinal());

        Assert.Equal(RunState.Succeeded, done.State);
        Assert.Equal("""{"auc":0.91,"segments":["north","south"]}""", TaskOf(done, "evaluate").Attempts.Single().Output);
        var instances = done.Tasks.Where(t => t.TaskId == "per_segment" && t.MapIndex is not null).ToList();
        Assert.Equal(2, instances.Count);
        Assert.Equal(2, instances.Select(i => i.Attempts.Single().Details["jobName"]).Distinct().Count());
        Assert.Equal(TaskState.Succeeded, TaskOf(done, "publish").State);
        Assert.Equal(4, fx.JobsOf("sm-output").Count());
    }

    [Fact]
    public async Task FailedJob_FailsTheTask_WithFailureReasonAndExitMessage()
    {
        var run = await fx.TriggerAsync($$$"""
            tasks:
              score:
                backend: sagemaker
                image: {{{Image}}}
                env: { BATCHYARD_EMULATOR: "run=200ms;outcome=failed;reason=AlgorithmError: matrix not invertible;exit=exit code 3" }
            """, "sm-failure");

        var done = await fx.WaitAsync(run, r => r.State.IsFinal());

        Assert.Equal(RunState.Failed, done.State);
        var attempt = TaskOf(done, "score").Attempts.Single();
        Assert.Equal(AttemptState.Failed, attempt.State);
        Assert.Contains("AlgorithmError: matrix not invertible", attempt.Reason, StringComparison.Ordinal);
        Assert.Contains("exit code 3", attempt.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task FailedAttempt_IsRetriedAsANewJobWithANewName()
    {
        var run = await fx.TriggerAsync($$$"""
            tasks:
              flaky:
                backend: sagemaker
                image: {{{Image}}}
                retries: 2
                retry_delay: 300ms
                env: { BATCHYARD_EMULATOR: "run=200ms;attempt={{ attempt }};failfirst=1" }
            """, "sm-retry");

        var done = await fx.WaitAsync(run, r => r.State.IsFinal());

        Assert.Equal(RunState.Succeeded, done.State);
        var attempts = TaskOf(done, "flaky").Attempts;
        Assert.Equal([AttemptState.Failed, AttemptState.Succeeded], attempts.Select(a => a.State));
        Assert.NotEqual(attempts[0].Details["jobName"], attempts[1].Details["jobName"]);
        Assert.Equal(attempts.Select(a => a.Details["jobName"]).Order(), fx.JobsOf("sm-retry").Select(j => j.Name).Order());
    }

    [Fact]
    public async Task ThrottlingStorm_FailsNoTask()
    {
        var tasks = string.Join("\n", Enumerable.Range(1, 8).Select(i => $$$"""
              job{{{i}}}:
                backend: sagemaker
                image: {{{Image}}}
                env: { BATCHYARD_EMULATOR: "run=400ms" }
            """));
        var faults = fx.Rig.Emulator.Faults;
        var throttledBefore = fx.Rig.Emulator.Stats.FaultCount(Fault.Throttle);
        var callsBefore = fx.Rig.Emulator.Stats.TotalCalls;
        faults.Settings = new FaultSettings { ThrottleRate = 0.5, Seed = 7 };
        try
        {
            var run = await fx.TriggerAsync("tasks:\n" + tasks, "sm-storm");
            var done = await fx.WaitAsync(run, r => r.State.IsFinal(), seconds: 90);

            Assert.Equal(RunState.Succeeded, done.State);
            Assert.All(done.Tasks, t => Assert.Single(t.Attempts));
            Assert.Equal(8, fx.JobsOf("sm-storm").Count());
            var throttled = fx.Rig.Emulator.Stats.FaultCount(Fault.Throttle) - throttledBefore;
            var calls = fx.Rig.Emulator.Stats.TotalCalls - callsBefore;
            output.WriteLine($"FIGURE throttling storm: 8 SageMaker tasks, {throttled} of {calls} calls throttled, 0 task failures, 8 jobs created");
            Assert.True(throttled > 8, "the storm throttled too few calls to prove anything");
        }
        finally
        {
            faults.Settings = new FaultSettings();
        }
    }

    [Fact]
    public async Task CancelRun_StopsTheRemoteJob()
    {
        var run = await fx.TriggerAsync($$$"""
            tasks:
              long:
                backend: sagemaker
                image: {{{Image}}}
                env: { BATCHYARD_EMULATOR: "run=10m" }
            """, "sm-cancel");
        var running = await fx.WaitAsync(run, r => TaskOf(r, "long").State == TaskState.Running);

        await fx.Cluster.Client.GetGrain<IDagRunGrain>(RunKeys.Run("sm-cancel", run.RunId)).CancelAsync();

        var job = fx.JobsOf("sm-cancel").Single();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (job.StopRequestedAt is null)
        {
            Assert.True(DateTime.UtcNow < deadline, "StopProcessingJob was never called");
            await Task.Delay(25);
        }
        Assert.Equal(TaskOf(running, "long").Attempts.Single().Details["jobName"], job.Name);
    }

    [Fact]
    public async Task RunAndSupervisorReactivatedMidJob_ReattachWithoutASecondJob()
    {
        var run = await fx.TriggerAsync($$$"""
            tasks:
              steady:
                backend: sagemaker-training
                image: {{{Image}}}
                output_path: s3://bucket/models
                env: { BATCHYARD_EMULATOR: "run=2s;lines=4" }
            """, "sm-reattach");
        await fx.WaitAsync(run, r => TaskOf(r, "steady").State == TaskState.Running);

        var grain = fx.Cluster.Client.GetGrain<IDagRunGrain>(RunKeys.Run("sm-reattach", run.RunId));
        // Collect every idle activation: the run grain and the job's supervisor go, with its watcher; the journal stays.
        var management = fx.Cluster.Client.GetGrain<IManagementGrain>(0);
        await management.ForceActivationCollection(TimeSpan.FromMilliseconds(1));
        var active = await management.GetDetailedGrainStatistics();
        Assert.DoesNotContain(active, s => s.GrainId.ToString().Contains("sm-reattach", StringComparison.Ordinal) && s.GrainType.Contains("JobSupervisor", StringComparison.Ordinal));

        // Rebuilt from its journal, the run orders the job's supervisor again, which follows the job it made.
        Assert.Equal(TaskState.Running, await grain.GetTaskStateAsync("steady"));

        var done = await fx.WaitAsync(run, r => r.State.IsFinal());
        Assert.Equal(RunState.Succeeded, done.State);
        Assert.Single(fx.JobsOf("sm-reattach"));
        Assert.Single(TaskOf(done, "steady").Attempts);
    }

    [Fact]
    public async Task Logs_AppearWhileTheJobIsStillRunning()
    {
        var run = await fx.TriggerAsync($$$"""
            tasks:
              chatty:
                backend: sagemaker
                image: {{{Image}}}
                env: { BATCHYARD_EMULATOR: "run=4s;lines=8" }
            """, "sm-logs");
        var logs = fx.Silo.GetRequiredService<IAttemptLogStore>();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (true)
        {
            var page = await logs.ReadAsync("sm-logs", run.RunId, "chatty", 1, 0, 100_000, default);
            var state = (await fx.Cluster.Client.GetGrain<IDagRunGrain>(RunKeys.Run("sm-logs", run.RunId)).GetAsync())!.State;
            if (page.Text.Length > 0)
            {
                Assert.Equal(RunState.Running, state);
                break;
            }
            Assert.True(DateTime.UtcNow < deadline && state == RunState.Running, "no log line arrived while the job ran");
            await Task.Delay(50);
        }
    }
}
