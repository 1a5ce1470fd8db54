using System.Text.RegularExpressions;
using Batchyard.SageMakerEmulator;
using Xunit.Abstractions;

namespace Batchyard.Cluster.Tests;

/// <summary>SageMaker tasks in flight when their silo is killed: the survivor re-attaches to the jobs, making none twice.</summary>
public sealed partial class SageMakerFailoverTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const int Tasks = 4;
    private readonly SiloSet _silos = new("sm-failover");
    private EmulatorServer _emulator = null!;

    public async Task InitializeAsync() => _emulator = await EmulatorServer.StartAsync();

    public async Task DisposeAsync()
    {
        await _silos.DisposeAsync();
        await _emulator.DisposeAsync();
    }

    [Fact]
    public async Task KillingTheSiloThatSubmitted_SurvivorReattachesToEveryJob_NoSecondJob()
    {
        var server = await TestPostgres.SharedAsync();
        var settings = new Dictionary<string, string>(SiloProcess.Settings(await server.CreateDatabaseAsync(), _silos.Folder))
        {
            ["AWS_ACCESS_KEY_ID"] = _emulator.Credentials.AccessKeyId,
            ["AWS_SECRET_ACCESS_KEY"] = _emulator.Credentials.SecretAccessKey,
            ["AWS_REGION"] = "us-east-1",
            ["AWS_ENDPOINT_URL"] = _emulator.Url.ToString(),
            ["Batchyard__SageMaker__RoleArn"] = "arn:aws:iam::123456789012:role/batchyard-test",
            ["Batchyard__SageMaker__PollInterval"] = "00:00:00.300",
        };
        var a = _silos.Start("silo-a", settings);
        var b = _silos.Start("silo-b", settings);
        await Task.WhenAll(a.WaitReadyAsync(TimeSpan.FromSeconds(180)), b.WaitReadyAsync(TimeSpan.FromSeconds(180)));

        var tasks = string.Concat(Enumerable.Range(1, Tasks).Select(i => $$"""
              job{{i}}:
                backend: sagemaker
                image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/batch:1
                env: { BATCHYARD_EMULATOR: "run=15s;lines=3" }

            """));
        await a.Api.PutDagAsync("sm-failover", "tasks:\n" + tasks);
        var runId = await a.Api.TriggerAsync("sm-failover");
        await Wait.UntilAsync(async () => (await a.Api.GetRunAsync("sm-failover", runId)).Tasks().All(t => t.State() == "running"),
            TimeSpan.FromSeconds(30), "every SageMaker job to run");

        // The silo whose task grains submitted the most jobs dies; its tasks must be picked up by the other.
        var victim = Submitted(a) >= Submitted(b) ? a : b;
        var survivor = victim == a ? b : a;
        var orphaned = Submitted(victim);
        Assert.True(orphaned > 0, "no job was submitted from either silo's log");
        victim.KillHard();
        output.WriteLine($"killed {victim.Name} holding {orphaned} of {Tasks} SageMaker tasks");

        await Wait.UntilAsync(async () => (await survivor.Api.GetRunAsync("sm-failover", runId)).IsFinal(), TimeSpan.FromSeconds(90), "the run to end on the survivor");
        var run = await survivor.Api.GetRunAsync("sm-failover", runId);

        Assert.Equal("succeeded", run.State());
        Assert.All(run.Tasks(), t => Assert.Single(t.Attempts()));
        var jobs = _emulator.Jobs.All.Where(j => j.Request.GetProperty("Tags").EnumerateArray()
            .Any(tag => tag.GetProperty("Key").GetString() == "batchyard:dag" && tag.GetProperty("Value").GetString() == "sm-failover")).ToList();
        Assert.Equal(Tasks, jobs.Count);
        Assert.Equal(Tasks, jobs.Select(j => j.Name).Distinct().Count());
        Assert.All(jobs, j => Assert.Null(j.StopRequestedAt));
    }

    private static int Submitted(SiloProcess silo) => SubmittingLine().Matches(silo.Output).Count;

    [GeneratedRegex("sm-failover/.*: submitting to sagemaker as ")]
    private static partial Regex SubmittingLine();
}
