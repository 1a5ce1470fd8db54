namespace Batchyard.Tests.Dags;

/// <summary>
/// One broken DAG file per kind of problem (Dags/Corpus/*.yaml); each must be refused with exactly these
/// <c>file:line: message</c> lines, in line order.
/// </summary>
public class BrokenDagCorpusTests
{
    private const string Known = "known: " + Batchyard.Dags.Templates.KnownVariables;
    private const string DagIdRule = "use lowercase letters, digits, '_' and '-', up to 63 characters, starting with a letter or digit";
    private const string Registered = "registered: local, noop, sagemaker, sagemaker-training";
    private const string Rules = "use all_success, all_done, all_failed, one_success, one_failed, none_failed";
    private const string DurationHint = "use e.g. 500ms, 30s, 5m, 2h, 1d or 1h30m";

    [Theory]
    [InlineData("syntax-error.yaml", "syntax-error.yaml:4: YAML syntax error: While scanning a multi-line double-quoted scalar, found wrong indentation.")]
    [InlineData("bad-indentation.yaml", "bad-indentation.yaml:4: YAML syntax error: While parsing a block mapping, did not find expected key.")]
    [InlineData("bad-dag-id.yaml", $"bad-dag-id.yaml:1: invalid DAG id 'Daily_Report' ({DagIdRule})")]
    [InlineData("Bad_File_Name.yaml", $"Bad_File_Name.yaml:1: invalid DAG id 'Bad_File_Name' taken from the file name ({DagIdRule}); set 'id:' or rename the file")]
    [InlineData("bad-task-id.yaml", "bad-task-id.yaml:2: invalid task id 'extract.data' (use letters, digits, '_' and '-', up to 63 characters)")]
    [InlineData("duplicate-task.yaml", "duplicate-task.yaml:6: duplicate task id 'extract' (first at line 2)")]
    [InlineData("unknown-flow-task.yaml", "unknown-flow-task.yaml:1: unknown task 'evaluate' in flow")]
    [InlineData("cycle.yaml", "cycle.yaml:5: cycle: c -> a -> b -> c")]
    [InlineData("self-dependency.yaml", "self-dependency.yaml:2: cycle: loop -> loop")]
    [InlineData("bad-cron.yaml", "bad-cron.yaml:2: bad cron '0 3 * * * * *': expected 5 or 6 fields, found 7")]
    [InlineData("bad-cron-value.yaml", "bad-cron-value.yaml:1: bad cron '0 25 * * *': The given cron expression has an invalid format. Hours: Value must be a number between 0 and 23 (all inclusive).")]
    [InlineData("bad-timezone.yaml", "bad-timezone.yaml:2: unknown time zone 'Mars/Olympus_Mons'")]
    [InlineData("bad-trigger-rule.yaml", $"bad-trigger-rule.yaml:7: unknown trigger rule 'all_succeeded' ({Rules})")]
    [InlineData("unknown-backend.yaml", $"unknown-backend.yaml:3: unknown backend 'kubernetes' ({Registered})")]
    [InlineData("negative-retries.yaml", "negative-retries.yaml:4: 'retries' must be 0 or more, found -1")]
    [InlineData("low-backoff.yaml", "low-backoff.yaml:4: 'retry_backoff' must be at least 1, found 0.5")]
    [InlineData("max-active-runs.yaml", "max-active-runs.yaml:1: 'max_active_runs' must be at least 1, found 0")]
    [InlineData("no-tasks.yaml", "no-tasks.yaml:2: no tasks")]
    [InlineData("missing-tasks.yaml", "missing-tasks.yaml:1: no tasks")]
    [InlineData("two-documents.yaml", "two-documents.yaml:4: a DAG file holds one YAML document; found another here")]
    [InlineData("empty.yaml", "empty.yaml:1: the file is empty; a DAG file needs at least 'tasks'")]
    public void BrokenFile_IsRefusedWithItsProblem(string file, string expected)
    {
        var result = Corpus.Parse(file);

        Assert.False(result.Ok);
        Assert.Null(result.Dag);
        Assert.Equal<string>([expected], result.Problems.Select(p => p.ToString()));
    }

    [Fact]
    public void DuplicateKeys_AtTopLevelAndNested_AreReportedWithTheFirstLine() => AssertProblems(
        "duplicate-key.yaml",
        "duplicate-key.yaml:3: duplicate key 'schedule' (first at line 1)",
        "duplicate-key.yaml:9: duplicate key 'STAGE' (first at line 8)");

    [Fact]
    public void UnknownDependencies_AreEachReported_WithASuggestionWhenClose() => AssertProblems(
        "unknown-dependency.yaml",
        "unknown-dependency.yaml:6: task 'train' depends on unknown task 'extrcat' (did you mean 'extract'?)",
        "unknown-dependency.yaml:6: task 'train' depends on unknown task 'publish'");

    [Fact]
    public void BadDeadlines_OnTheDagAndItsTasks_AreEachReportedWhereWritten() => AssertProblems(
        "bad-deadline.yaml",
        $"bad-deadline.yaml:2: bad duration '2 hours' for 'deadline.within' ({DurationHint})",
        "bad-deadline.yaml:3: unknown 'deadline.after' 'started' (use logical_date or queued)",
        "bad-deadline.yaml:4: unknown key 'stop' in 'deadline'",
        "bad-deadline.yaml:6: 'deadline' of a task must be longer than 0s",
        $"bad-deadline.yaml:10: bad duration 'soon' for 'deadline' ({DurationHint})");

    [Fact]
    public void BadDurations_InDefaultsAndTasks_AreReportedWhereWritten() => AssertProblems(
        "bad-duration.yaml",
        $"bad-duration.yaml:2: bad duration '30 seconds' for 'retry_delay' ({DurationHint})",
        $"bad-duration.yaml:8: bad duration '2hours' for 'timeout' ({DurationHint})");

    [Fact]
    public void ResourcesOutOfRange_AreReported() => AssertProblems(
        "bad-resources.yaml",
        "bad-resources.yaml:5: 'resources.memory_mb' must be greater than 0, found 0",
        "bad-resources.yaml:6: 'resources.cpus' must be greater than 0, found -0.5");

    [Fact]
    public void LocalTaskWithoutCommand_IsReportedAtTheTask() => AssertProblems(
        "local-without-command.yaml",
        "local-without-command.yaml:2: task 'a': a local task needs a command",
        "local-without-command.yaml:4: task 'b': a local task needs a command");

    [Fact]
    public void UnknownTemplateVariables_InCommandArgsAndEnv_AreReportedAtTheirLines() => AssertProblems(
        "unknown-template.yaml",
        $"unknown-template.yaml:3: unknown template variable 'ds' ({Known})",
        $"unknown-template.yaml:4: unknown template variable 'execution_date' ({Known})",
        $"unknown-template.yaml:7: unknown template variable 'logical_date.day' ({Known})");

    [Fact]
    public void UnknownKeys_AreReported_WithASuggestionWhenClose() => AssertProblems(
        "unknown-key.yaml",
        "unknown-key.yaml:1: unknown key 'scheduel' (did you mean 'schedule'?)",
        "unknown-key.yaml:5: unknown key 'retires' (did you mean 'retries'?)",
        "unknown-key.yaml:7: unknown key 'memory' in 'resources' (did you mean 'memory_mb'?)",
        "unknown-key.yaml:8: unknown key 'colour'");

    [Fact]
    public void BadFlowSyntax_IsReportedPerFlowEntry() => AssertProblems(
        "bad-flow.yaml",
        "bad-flow.yaml:2: bad flow 'a >> >> b': a '>>' has no task on one side",
        "bad-flow.yaml:3: bad flow '[a, b >> c': '[a, b' opens '[' without closing it",
        "bad-flow.yaml:4: bad flow 'a b >> c': 'a b' is not a task name (separate steps with '>>' and group tasks as [a, b])");

    [Fact]
    public void BackendProblems_PointAtTheTaskKey_OrTheDefaultsKeyTheValueCameFrom() => AssertProblems(
        "backend-problems.yaml",
        "backend-problems.yaml:4: tasks 'train', 'evaluate', 'publish': environment variable AWS_REGION is reserved by SageMaker",
        "backend-problems.yaml:7: task 'train': instance_count 20 is over the account limit of 10",
        "backend-problems.yaml:11: task 'evaluate': a SageMaker task needs an image",
        "backend-problems.yaml:13: task 'evaluate': instance_count 12 is over the account limit of 10",
        "backend-problems.yaml:15: task 'evaluate': environment variable AWS_PROFILE is reserved by SageMaker",
        "backend-problems.yaml:22: task 'publish': '/tmp/model' is not an s3:// URI");

    [Fact]
    public void ValuesOfTheWrongShape_AreReported() => AssertProblems(
        "wrong-types.yaml",
        "wrong-types.yaml:1: 'catchup' must be true or false, found 'sometimes'",
        "wrong-types.yaml:2: 'tags' must be a list, not a map",
        "wrong-types.yaml:4: 'params.nested' must be text, not a map",
        "wrong-types.yaml:8: 'retries' must be a whole number, found 'two'",
        "wrong-types.yaml:9: 'env' must be a map, not a list",
        "wrong-types.yaml:11: 'resources.cpus' must be a number, found 'lots'",
        "wrong-types.yaml:12: task 'b' must be a map of fields");

    [Fact]
    public void FileWithManyProblems_ReportsEveryOne() => AssertProblems(
        "many-problems.yaml",
        $"many-problems.yaml:1: invalid DAG id 'Many' ({DagIdRule})",
        "many-problems.yaml:2: bad cron 'every day': expected 5 or 6 fields, found 2",
        "many-problems.yaml:3: unknown time zone 'Nowhere/City'",
        "many-problems.yaml:4: 'max_active_runs' must be at least 1, found -2",
        $"many-problems.yaml:6: bad duration 'soon' for 'retry_delay' ({DurationHint})",
        $"many-problems.yaml:9: unknown template variable 'today' ({Known})",
        "many-problems.yaml:10: 'retries' must be 0 or more, found -3",
        $"many-problems.yaml:12: unknown backend 'gpu-box' ({Registered})",
        "many-problems.yaml:13: task 'train' depends on unknown task 'missing'",
        "many-problems.yaml:14: duplicate task id 'train' (first at line 11)",
        "many-problems.yaml:16: cycle: evaluate -> evaluate",
        $"many-problems.yaml:18: unknown trigger rule 'sometimes' ({Rules})");

    [Fact]
    public void MappingOutputsAndConditions_AreCheckedAtLoad() => AssertProblems(
        "bad-mapping.yaml",
        "bad-mapping.yaml:2: 'when' cannot be set in 'defaults'; it belongs to one task",
        "bad-mapping.yaml:5: '{{ item }}' is only known in a mapped task (one with 'map:')",
        "bad-mapping.yaml:8: 'map' needs 'over': a list, a param holding a JSON list, or an upstream output ({{ tasks.ID.output.KEY }})",
        "bad-mapping.yaml:9: 'map.max_active' must be at least 1, found 0",
        "bad-mapping.yaml:12: '{{ tasks.score.output }}' refers to task 'score', which is not upstream of 'report' (its output would not exist yet)",
        "bad-mapping.yaml:13: task 'publish': a local task needs a command",
        "bad-mapping.yaml:15: when: expected an operand after 'and' at column 36",
        "bad-mapping.yaml:16: task 'notify': a local task needs a command",
        "bad-mapping.yaml:18: when: '{{ tasks.publish.output.ok }}' refers to task 'publish', which is not upstream of 'notify' (its output would not exist yet)",
        "bad-mapping.yaml:19: task 'notify': 'output_json' is read by the sagemaker backend only (local jobs write their output to $BATCHYARD_OUTPUT; sagemaker-training outputs its final metrics)",
        "bad-mapping.yaml:23: 'map.over' must be a YAML list, or text that is (or renders to) a JSON list",
        "bad-mapping.yaml:24: '{{ tasks.nowhere.output }}' refers to unknown task 'nowhere'");

    [Fact]
    public void EveryBrokenCorpusFile_IsRefused()
    {
        var files = Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "Dags", "Corpus"), "*.yaml");

        Assert.True(files.Length >= 15, $"only {files.Length} broken DAG files");
        Assert.All(files, file => Assert.False(Corpus.Parse(Path.GetFileName(file)).Ok, $"{file} should be refused"));
    }

    private static void AssertProblems(string file, params string[] expected)
    {
        var result = Corpus.Parse(file);

        Assert.Null(result.Dag);
        Assert.True(expected.SequenceEqual(result.Problems.Select(p => p.ToString())), "problems:\n" + string.Join("\n", result.Problems));
    }
}
