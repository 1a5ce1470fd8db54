using System.Security.Cryptography;
using System.Text;
using Batchyard.Dags;

namespace Batchyard.Tests.Dags;

public class DagParserTests
{
    [Fact]
    public void Parse_DesignExample_ReadsEveryKey()
    {
        var text = Corpus.Read("valid/daily-recommendations.yaml");

        var result = DagParser.Parse("daily.yaml", text, TestBackends.Lenient, "daily");

        Assert.Empty(result.Problems);
        Assert.True(result.Ok);
        var dag = result.Dag!;
        Assert.Equal("daily-recommendations", dag.DagId);
        Assert.Equal("Nightly recommendation model", dag.Description);
        Assert.Equal("mlops", dag.Owner);
        Assert.Equal<string>(["recsys"], dag.Tags);
        Assert.Equal("0 3 * * *", dag.Schedule);
        Assert.Equal("Asia/Tokyo", dag.Timezone);
        Assert.False(dag.Catchup);
        Assert.Equal(1, dag.MaxActiveRuns);
        Assert.Equal(new Dictionary<string, string> { ["sample_rate"] = "0.1" }, dag.Params);
        Assert.Equal<string>(["mlops-slack"], dag.Notify.OnFailure);
        Assert.Empty(dag.Notify.OnSuccess);
        Assert.Equal("daily.yaml", dag.SourceFile);
        Assert.Equal(text, dag.SourceText);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..12], dag.Version);
        Assert.Equal<string>(["extract", "train", "evaluate", "publish"], dag.Tasks.Select(t => t.TaskId));

        var extract = dag.FindTask("extract")!;
        Assert.Equal(23, extract.Line);
        Assert.Equal("sagemaker", extract.Backend);
        Assert.Equal("123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/extract:1.4", extract.Image);
        Assert.Equal<string>(["python", "extract.py", "--date", "{{ logical_date }}"], extract.Command);
        Assert.Equal(new Dictionary<string, string> { ["STAGE"] = "prod" }, extract.Env);
        Assert.Equal(new TaskResources { InstanceType = "ml.m5.xlarge", InstanceCount = 1, VolumeGb = 30 }, extract.Resources);
        Assert.Equal(2, extract.Retries);
        Assert.Equal(TimeSpan.FromSeconds(30), extract.RetryDelay);
        Assert.Equal(2.0, extract.RetryBackoff);
        Assert.Equal(TimeSpan.FromMinutes(10), extract.MaxRetryDelay);
        Assert.Equal(TimeSpan.FromHours(2), extract.Timeout);
        Assert.Equal("default", extract.Pool);
        Assert.Empty(extract.Upstream);

        var train = dag.FindTask("train")!;
        Assert.Equal(28, train.Line);
        Assert.Equal("sagemaker", train.Backend);
        Assert.Equal("ml.g4dn.xlarge", train.Resources.InstanceType);
        Assert.Equal(2, train.Retries);
        Assert.Equal<string>(["extract"], train.Upstream);

        var evaluate = dag.FindTask("evaluate")!;
        Assert.Equal(30, evaluate.Line);
        Assert.Equal<string>(["extract"], evaluate.Upstream);
        Assert.Equal(TimeSpan.FromHours(2), evaluate.Timeout);

        var publish = dag.FindTask("publish")!;
        Assert.Equal(31, publish.Line);
        Assert.Equal("local", publish.Backend);
        Assert.Equal<string>(["./publish.sh"], publish.Command);
        Assert.Equal(new TaskResources { MemoryMb = 512, Cpus = 1 }, publish.Resources);
        Assert.Equal(TriggerRule.AllSuccess, publish.TriggerRule);
        Assert.Equal<string>(["evaluate", "train"], publish.Upstream);
    }

    [Fact]
    public void Parse_MappedTasksOutputsAndConditions_ReadsThem()
    {
        var result = Corpus.Parse("valid/mapped.yaml");

        Assert.Empty(result.Problems);
        var dag = result.Dag!;
        var score = dag.FindTask("score")!;
        Assert.Equal("{{ tasks.list_shards.output.shards }}", score.Map!.Over);
        Assert.Equal(8, score.Map.MaxActive);
        Assert.Empty(score.Map.Items);
        Assert.Equal<string>(["\"eu\"", """{"name":"us","weight":"2"}"""], dag.FindTask("regions")!.Map!.Items);
        Assert.Null(dag.FindTask("regions")!.Map!.MaxActive);
        Assert.Equal("s3://ml-bucket/eval/{{ run_id }}/metrics.json", dag.FindTask("evaluate")!.OutputJson);
        Assert.Equal("{{ tasks.evaluate.output.auc }} >= 0.8 and {{ params.publish }} == 'yes'", dag.FindTask("publish")!.When);
        Assert.Null(dag.FindTask("list_shards")!.Map);
    }

    [Fact]
    public void Parse_FileUsingEveryField_ReadsEachValue()
    {
        var result = Corpus.Parse("valid/every-field.yaml");

        Assert.Empty(result.Problems);
        var dag = result.Dag!;
        Assert.Equal("every_field-1", dag.DagId);
        Assert.Equal("Uses every key a DAG file has", dag.Description);
        Assert.Equal("data-team", dag.Owner);
        Assert.Equal<string>(["recsys", "nightly"], dag.Tags);
        Assert.Equal("@hourly", dag.Schedule);
        Assert.Equal("Europe/Paris", dag.Timezone);
        Assert.True(dag.Catchup);
        Assert.Equal(3, dag.MaxActiveRuns);
        Assert.Equal(new Dictionary<string, string> { ["sample_rate"] = "0.25", ["region"] = "eu-west-1", ["empty"] = "" }, dag.Params);
        Assert.Equal<string>(["mlops-pager"], dag.Notify.OnFailure);
        Assert.Equal<string>(["mlops-slack", "audit"], dag.Notify.OnSuccess);

        var prepare = dag.FindTask("prepare")!;
        Assert.Equal("sagemaker", prepare.Backend);
        Assert.Equal("registry.example/prepare:3", prepare.Image);
        Assert.Equal<string>(["python", "prepare.py", "--date", "{{ logical_date }}", "--run={{run_id}}"], prepare.Command);
        Assert.Equal<string>(["--rate", "{{ params.sample_rate }}", "3"], prepare.Args);
        Assert.Equal("/opt/work", prepare.WorkingDir);
        Assert.Equal<DataChannel>([new DataChannel { Name = "raw", S3Uri = "s3://bucket/raw/", LocalPath = "/opt/ml/processing/input" }], prepare.Inputs);
        Assert.Equal<DataChannel>([new DataChannel { Name = "features", S3Uri = "s3://bucket/features/", LocalPath = "/opt/ml/processing/output" }], prepare.Outputs);
        Assert.Equal(TriggerRule.OneSuccess, prepare.TriggerRule);
        Assert.Equal(1, prepare.Retries);
        Assert.Equal(TimeSpan.FromSeconds(90), prepare.RetryDelay);
        Assert.Equal(1.5, prepare.RetryBackoff);
        Assert.Equal(TimeSpan.FromHours(1), prepare.MaxRetryDelay);
        Assert.Equal(TimeSpan.FromMinutes(45), prepare.Timeout);
        Assert.Equal("gpu", prepare.Pool);

        var train = dag.FindTask("train")!;
        Assert.Equal("sagemaker-training", train.Backend);
        Assert.Equal("registry.example/base:2", train.Image);
        Assert.Equal(new TaskResources { InstanceType = "ml.m5.large", InstanceCount = 2, VolumeGb = 50 }, train.Resources);
        Assert.Equal(new Dictionary<string, string> { ["epochs"] = "10", ["lr"] = "0.1" }, train.Hyperparameters);
        Assert.Equal<DataChannel>([new DataChannel { Name = "train", S3Uri = "s3://bucket/features/" }], train.Inputs);
        Assert.Empty(train.Outputs);
        Assert.Equal("s3://bucket/models/", train.OutputPath);
        Assert.Equal(3.0, train.RetryBackoff);
        Assert.Equal(TimeSpan.FromMilliseconds(500), train.Timeout);
        Assert.Equal(TriggerRule.AllDone, train.TriggerRule);
        Assert.Equal<string>(["prepare"], train.Upstream);

        var report = dag.FindTask("report")!;
        Assert.Equal("local", report.Backend);
        Assert.Equal<string>(["./report.sh", "{{ dag_id }}/{{ task_id }}"], report.Command);
        Assert.Equal(new TaskResources { InstanceType = "ml.m5.large", VolumeGb = 50, MemoryMb = 256, Cpus = 0.5 }, report.Resources);
        Assert.Equal(0, report.Retries);
        Assert.Equal("default", report.Pool);
        Assert.Equal(TriggerRule.NoneFailed, report.TriggerRule);
        Assert.Equal<string>(["prepare", "train"], report.Upstream);

        Assert.Equal<string>(["report", "train"], dag.FindTask("notify_all")!.Upstream);
        Assert.Equal(TriggerRule.AllFailed, dag.FindTask("notify_all")!.TriggerRule);
        Assert.Equal(TriggerRule.OneFailed, dag.FindTask("cleanup")!.TriggerRule);
    }

    [Fact]
    public void Parse_UnsetFields_TakeDocumentedDefaults()
    {
        var result = DagParser.Parse("minimal.yaml", "tasks:\n  only:\n    command: [true]\n", TestBackends.Catalog, "minimal");

        var dag = result.Dag!;
        Assert.Equal("minimal", dag.DagId);
        Assert.Null(dag.Schedule);
        Assert.Equal("UTC", dag.Timezone);
        Assert.False(dag.Catchup);
        Assert.Equal(16, dag.MaxActiveRuns);
        Assert.Empty(dag.Params);
        var task = Assert.Single(dag.Tasks);
        Assert.Equal(2, task.Line);
        Assert.Equal("local", task.Backend);
        Assert.Equal(0, task.Retries);
        Assert.Equal(TimeSpan.FromSeconds(30), task.RetryDelay);
        Assert.Equal(1.0, task.RetryBackoff);
        Assert.Null(task.MaxRetryDelay);
        Assert.Null(task.Timeout);
        Assert.Equal("default", task.Pool);
        Assert.Equal(TriggerRule.AllSuccess, task.TriggerRule);
        Assert.Empty(task.Upstream);
    }

    [Fact]
    public void Parse_IdInFile_WinsOverDefaultId()
    {
        var result = DagParser.Parse("x.yaml", "id: from-file\ntasks: { a: { command: [true] } }\n", TestBackends.Catalog, "from-caller");

        Assert.Equal("from-file", result.Dag!.DagId);
    }

    [Fact]
    public void Parse_NoIdAndNoDefault_IsAProblem()
    {
        var result = DagParser.Parse("x.yaml", "tasks: { a: { command: [true] } }\n", TestBackends.Catalog);

        Assert.False(result.Ok);
        Assert.Equal<string>(["x.yaml:1: no DAG id: set 'id:'"], result.Problems.Select(p => p.ToString()));
    }

    [Fact]
    public void Parse_Json_IsAcceptedAsYaml()
    {
        const string Json = """
            {
            	"id": "from-json",
            	"schedule": "@daily",
            	"flow": "a >> b",
            	"tasks": {
            		"a": { "command": ["echo", "a"], "retries": 3 },
            		"b": { "backend": "noop" }
            	}
            }
            """;

        var result = DagParser.Parse("dag.json", Json, TestBackends.Catalog);

        Assert.Empty(result.Problems);
        Assert.Equal("from-json", result.Dag!.DagId);
        Assert.Equal(3, result.Dag.FindTask("a")!.Retries);
        Assert.Equal<string>(["a"], result.Dag.FindTask("b")!.Upstream);
        Assert.Equal(6, result.Dag.FindTask("a")!.Line);
    }

    [Fact]
    public void Parse_DuplicateKeyInJson_IsReported()
    {
        const string Json = "{\n\"tasks\": {\"a\": {\"command\": [\"x\"]}},\n\"tasks\": {}\n}";

        var result = DagParser.Parse("dag.json", Json, TestBackends.Catalog, "dag");

        Assert.Equal<string>(["dag.json:3: duplicate key 'tasks' (first at line 2)"], result.Problems.Select(p => p.ToString()));
    }

    [Fact]
    public void Parse_AnchorsAndMergeKeys_AreResolved()
    {
        const string Yaml = """
            tasks:
              a: &base
                command: [echo, base]
                retries: 4
              b:
                <<: *base
                retries: 1
            """;

        var dag = DagParser.Parse("anchors.yaml", Yaml, TestBackends.Catalog, "anchors").Dag!;

        Assert.Equal<string>(["echo", "base"], dag.FindTask("b")!.Command);
        Assert.Equal(1, dag.FindTask("b")!.Retries);
        Assert.Equal(4, dag.FindTask("a")!.Retries);
    }

    [Fact]
    public void Parse_ValidFile_HasNoProblemsAndTheResultIsOk()
    {
        var result = Corpus.Parse("valid/every-field.yaml");

        Assert.True(result.Ok);
        Assert.Empty(result.Problems);
    }

    [Theory]
    [InlineData("python  run.py\t--x 1", "python|run.py|--x|1")]
    [InlineData("echo {{ logical_date }} --run={{ run_id }}!", "echo|{{ logical_date }}|--run={{ run_id }}!")]
    [InlineData("echo {{ unclosed", "echo|{{|unclosed")]
    public void Parse_CommandAsOneString_SplitsOnWhitespaceKeepingTemplatesWhole(string command, string expected)
    {
        var yaml = $"tasks:\n  t:\n    command: \"{command.Replace("\t", "\\t", StringComparison.Ordinal)}\"\n";

        var dag = DagParser.Parse("c.yaml", yaml, TestBackends.Catalog, "c").Dag!;

        Assert.Equal(expected, string.Join("|", dag.Tasks[0].Command));
    }
}
