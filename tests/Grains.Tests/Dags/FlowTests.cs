using Batchyard.Dags;

namespace Batchyard.Tests.Dags;

public class FlowTests
{
    private const string FourTasks = """
        tasks:
          a: { backend: noop }
          b: { backend: noop }
          c: { backend: noop }
          d: { backend: noop }
        """;

    private static Dictionary<string, string> UpstreamOf(string flowYaml)
    {
        var result = DagParser.Parse("flow.yaml", flowYaml + "\n" + FourTasks, TestBackends.Catalog, "flow");
        Assert.Empty(result.Problems);
        return result.Dag!.Tasks.ToDictionary(t => t.TaskId, t => string.Join(",", t.Upstream));
    }

    [Theory]
    [InlineData("flow: a >> b", "", "a", "", "")]
    [InlineData("flow: a >> b >> c >> d", "", "a", "b", "c")]
    [InlineData("flow: a >> [b, c] >> d", "", "a", "a", "b,c")]
    [InlineData("flow: '[a, b] >> [c, d]'", "", "", "a,b", "a,b")]
    [InlineData("flow: \"[ a,b ]>>c\"", "", "", "a,b", "")]
    [InlineData("flow: a", "", "", "", "")]
    [InlineData("flow: [a >> b, c >> d]", "", "a", "", "c")]
    [InlineData("flow:\n  - a >> c\n  - b >> c\n  - a >> c", "", "", "a,b", "")]
    public void Flow_LinksEveryTaskOfTheLeftGroupToEveryTaskOfTheRight(string flow, string a, string b, string c, string d)
    {
        var upstream = UpstreamOf(flow);

        Assert.Equal(new Dictionary<string, string> { ["a"] = a, ["b"] = b, ["c"] = c, ["d"] = d }, upstream);
    }

    [Fact]
    public void FlowAndDependsOn_Combine_IntoDistinctSortedUpstream()
    {
        const string Yaml = """
            flow: [d >> c, a >> c]
            tasks:
              a: { backend: noop }
              b: { backend: noop }
              c: { backend: noop, depends_on: [b, a] }
              d: { backend: noop }
            """;

        var dag = DagParser.Parse("flow.yaml", Yaml, TestBackends.Catalog, "flow").Dag!;

        Assert.Equal<string>(["a", "b", "d"], dag.FindTask("c")!.Upstream);
    }

    [Fact]
    public void Flow_UnknownTaskAndBadSyntax_ReportedAtTheFlowLine()
    {
        const string Yaml = """
            tasks:
              a: { backend: noop }
              b: { backend: noop }
            flow:
              - a >> [b, c]
              - a >>
              - "[a, b"
            """;

        var problems = DagParser.Parse("flow.yaml", Yaml, TestBackends.Catalog, "flow").Problems.Select(p => p.ToString());

        Assert.Equal<string>(
        [
            "flow.yaml:5: unknown task 'c' in flow",
            "flow.yaml:6: bad flow 'a >>': a '>>' has no task on one side",
            "flow.yaml:7: bad flow '[a, b': '[a, b' opens '[' without closing it",
        ], problems);
    }

    [Fact]
    public void Flow_CycleThroughFlowAndDependsOn_IsNamedTaskByTask()
    {
        const string Yaml = """
            flow: a >> b >> c
            tasks:
              a: { backend: noop, depends_on: c }
              b: { backend: noop }
              c: { backend: noop }
            """;

        var problems = DagParser.Parse("flow.yaml", Yaml, TestBackends.Catalog, "flow").Problems.Select(p => p.ToString());

        Assert.Equal<string>(["flow.yaml:3: cycle: a -> b -> c -> a"], problems);
    }

    [Fact]
    public void TwoSeparateCycles_EachReportedOnce()
    {
        const string Yaml = """
            flow: [a >> b >> a, c >> d >> c]
            tasks:
              a: { backend: noop }
              b: { backend: noop }
              c: { backend: noop }
              d: { backend: noop }
            """;

        var problems = DagParser.Parse("flow.yaml", Yaml, TestBackends.Catalog, "flow").Problems.Select(p => p.ToString());

        Assert.Equal<string>(["flow.yaml:3: cycle: a -> b -> a", "flow.yaml:5: cycle: c -> d -> c"], problems);
    }
}
