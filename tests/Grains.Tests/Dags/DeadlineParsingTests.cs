using Batchyard.Dags;

namespace Batchyard.Tests.Dags;

public class DeadlineParsingTests
{
    private static DagParseResult Parse(string text) => DagParser.Parse("late.yaml", text, TestBackends.Lenient, "late");

    private static string[] Problems(string text) => [.. Parse(text).Problems.Select(p => p.ToString())];

    [Fact]
    public void Parse_DagAndTaskDeadlines_ReadsThem()
    {
        var result = Parse("""
            deadline: { within: 2h, after: logical_date }
            notify:
              on_late: [pager]
            tasks:
              features:
                backend: noop
                deadline: 30m
              other:
                backend: noop
            """);

        Assert.Empty(result.Problems);
        Assert.Equal(new DeadlineSettings { Within = TimeSpan.FromHours(2), After = DeadlineAnchor.LogicalDate }, result.Dag!.Deadline);
        Assert.Equal(TimeSpan.FromMinutes(30), result.Dag.FindTask("features")!.Deadline);
        Assert.Null(result.Dag.FindTask("other")!.Deadline);
        Assert.Equal<string>(["pager"], result.Dag.Notify.OnLate);
    }

    [Fact]
    public void Parse_TheDeadlinesExample_IsValid_AndTasksWithoutTheirOwnTakeTheDefault()
    {
        var result = Corpus.Parse("valid/deadlines.yaml");

        Assert.Empty(result.Problems);
        Assert.Equal(TimeSpan.FromHours(2), result.Dag!.Deadline!.Within);
        Assert.Equal(TimeSpan.FromHours(1), result.Dag.FindTask("extract")!.Deadline);
        Assert.Equal(TimeSpan.FromMinutes(30), result.Dag.FindTask("features")!.Deadline);
    }

    [Fact]
    public void Parse_AfterDefaultsToLogicalDate_AndQueuedIsRead_AndDefaultsGiveEveryTaskADeadline()
    {
        var plain = Parse("deadline: { within: 90m }\ntasks:\n  t:\n    backend: noop\n");
        Assert.Equal(DeadlineAnchor.LogicalDate, plain.Dag!.Deadline!.After);
        Assert.Equal(TimeSpan.FromMinutes(90), plain.Dag.Deadline.Within);

        var queued = Parse("deadline:\n  within: 1h\n  after: queued\ndefaults:\n  deadline: 10m\ntasks:\n  t:\n    backend: noop\n");
        Assert.Empty(queued.Problems);
        Assert.Equal(DeadlineAnchor.Queued, queued.Dag!.Deadline!.After);
        Assert.Equal(TimeSpan.FromMinutes(10), queued.Dag.FindTask("t")!.Deadline);
        Assert.Null(Parse("tasks:\n  t:\n    backend: noop\n").Dag!.Deadline);
    }
}
