using Batchyard.Dags;

namespace Batchyard.Tests.Dags;

public class DefaultsTests
{
    private const string Yaml = """
        defaults:
          backend: noop
          retries: 3
          timeout: 1h
          command: [echo, default]
          env: { STAGE: prod, REGION: eu }
          resources: { memory_mb: 1024, cpus: 2 }
          hyperparameters: { epochs: "5" }
          inputs: [{ name: a, s3_uri: "s3://x/a" }]
        tasks:
          inherits: {}
          overrides:
            backend: local
            retries: 0
            command: [echo, own]
            env: { STAGE: dev, EXTRA: "1" }
            resources: { memory_mb: 256 }
            hyperparameters: { lr: "0.1" }
            inputs: [{ name: b, s3_uri: "s3://x/b" }]
        """;

    private static readonly DagDefinition Dag = DagParser.Parse("defaults.yaml", Yaml, TestBackends.Catalog, "defaults").Dag!;

    [Fact]
    public void TaskWithoutFields_TakesEveryDefault()
    {
        var task = Dag.FindTask("inherits")!;

        Assert.Equal("noop", task.Backend);
        Assert.Equal(3, task.Retries);
        Assert.Equal(TimeSpan.FromHours(1), task.Timeout);
        Assert.Equal<string>(["echo", "default"], task.Command);
        Assert.Equal(new Dictionary<string, string> { ["STAGE"] = "prod", ["REGION"] = "eu" }, task.Env);
        Assert.Equal(new TaskResources { MemoryMb = 1024, Cpus = 2 }, task.Resources);
        Assert.Equal(new Dictionary<string, string> { ["epochs"] = "5" }, task.Hyperparameters);
        Assert.Equal("a", Assert.Single(task.Inputs).Name);
    }

    [Fact]
    public void TaskFields_WinOverDefaults_ScalarsAndListsReplace()
    {
        var task = Dag.FindTask("overrides")!;

        Assert.Equal("local", task.Backend);
        Assert.Equal(0, task.Retries);
        Assert.Equal(TimeSpan.FromHours(1), task.Timeout);
        Assert.Equal<string>(["echo", "own"], task.Command);
        Assert.Equal("b", Assert.Single(task.Inputs).Name);
    }

    [Fact]
    public void MapFields_MergeKeyByKey_TaskWins()
    {
        var task = Dag.FindTask("overrides")!;

        Assert.Equal(new Dictionary<string, string> { ["STAGE"] = "dev", ["REGION"] = "eu", ["EXTRA"] = "1" }, task.Env);
        Assert.Equal(new TaskResources { MemoryMb = 256, Cpus = 2 }, task.Resources);
        Assert.Equal(new Dictionary<string, string> { ["epochs"] = "5", ["lr"] = "0.1" }, task.Hyperparameters);
    }

    [Fact]
    public void ProblemInDefaults_IsReportedOnceAtTheDefaultsLine()
    {
        const string Broken = """
            defaults:
              retry_delay: 3 minutes
              backend: noop
            tasks:
              a: {}
              b: {}
            """;

        var problems = DagParser.Parse("d.yaml", Broken, TestBackends.Catalog, "d").Problems.Select(p => p.ToString());

        Assert.Equal<string>(["d.yaml:2: bad duration '3 minutes' for 'retry_delay' (use e.g. 500ms, 30s, 5m, 2h, 1d or 1h30m)"], problems);
    }

    [Fact]
    public void DependsOnInDefaults_IsAProblem()
    {
        const string Broken = """
            defaults:
              backend: noop
              depends_on: a
            tasks:
              a: {}
            """;

        var problems = DagParser.Parse("d.yaml", Broken, TestBackends.Catalog, "d").Problems.Select(p => p.ToString());

        Assert.Equal<string>(["d.yaml:3: 'depends_on' cannot be set in 'defaults'; use it on tasks or use 'flow'"], problems);
    }
}
