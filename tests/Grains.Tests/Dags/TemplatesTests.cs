using System.Collections.Immutable;
using Batchyard.Dags;

namespace Batchyard.Tests.Dags;

public class TemplatesTests
{
    private static readonly TemplateContext Context = new(
        DagId: "daily",
        RunId: "scheduled__2026-11-27T18:00:00Z",
        TaskId: "train",
        Attempt: 2,
        LogicalDate: new DateTimeOffset(2026, 11, 28, 3, 0, 0, TimeSpan.FromHours(9)),
        Params: new Dictionary<string, string> { ["sample_rate"] = "0.1", ["region-name"] = "eu" });

    [Theory]
    [InlineData("{{ logical_date }}", "2026-11-27T18:00:00Z")]
    [InlineData("{{ run_id }}", "scheduled__2026-11-27T18:00:00Z")]
    [InlineData("{{ dag_id }}", "daily")]
    [InlineData("{{ task_id }}", "train")]
    [InlineData("{{ attempt }}", "2")]
    [InlineData("{{ params.sample_rate }}", "0.1")]
    [InlineData("{{ params.region-name }}", "eu")]
    public void Render_EachVariable_GivesItsValue(string template, string expected)
    {
        Assert.Equal(expected, Templates.Render(template, Context));
    }

    [Theory]
    [InlineData("{{dag_id}}/{{task_id}}", "daily/train")]
    [InlineData("--date={{   logical_date}} --n {{attempt   }}", "--date=2026-11-27T18:00:00Z --n 2")]
    [InlineData("no templates here", "no templates here")]
    [InlineData("{ single } braces", "{ single } braces")]
    public void Render_WhitespaceInsideBracesIsOptional(string template, string expected)
    {
        Assert.Equal(expected, Templates.Render(template, Context));
    }

    [Fact]
    public void Render_UnknownVariable_ThrowsNamingIt()
    {
        var error = Assert.Throws<TemplateException>(() => Templates.Render("--date {{ ds }}", Context));

        Assert.Equal("unknown template variable 'ds' (known: logical_date, run_id, dag_id, task_id, attempt, params.NAME, tasks.ID.output.PATH, triggering_datasets (a JSON list; triggering_datasets.0.name …), and in a mapped task item, item.KEY and map_index)", error.Message);
    }

    [Fact]
    public void Render_ParamWithoutValue_ThrowsNamingIt()
    {
        var error = Assert.Throws<TemplateException>(() => Templates.Render("{{ params.missing }}", Context));

        Assert.Equal("no value for parameter 'missing' in '{{ params.missing }}': pass it when triggering the run or give it a default under 'params'", error.Message);
    }

    [Fact]
    public void RenderTask_RendersCommandArgsAndEnv_AndLeavesTheRestAlone()
    {
        var task = new TaskDefinition
        {
            TaskId = "train",
            Image = "img:{{ attempt }}",
            Command = ["python", "train.py", "{{ logical_date }}"],
            Args = ["--rate={{ params.sample_rate }}"],
            Env = ImmutableDictionary<string, string>.Empty.Add("RUN", "{{ run_id }}").Add("PLAIN", "x"),
        };

        var rendered = Templates.RenderTask(task, Context);

        Assert.Equal<string>(["python", "train.py", "2026-11-27T18:00:00Z"], rendered.Command);
        Assert.Equal<string>(["--rate=0.1"], rendered.Args);
        Assert.Equal(new Dictionary<string, string> { ["RUN"] = "scheduled__2026-11-27T18:00:00Z", ["PLAIN"] = "x" }, rendered.Env);
        Assert.Equal("img:{{ attempt }}", rendered.Image);
    }

    [Fact]
    public void ParsedDag_TemplatesInCommand_RenderAfterLoading()
    {
        const string Yaml = "params: { day: mon }\ntasks:\n  t:\n    command: echo {{ dag_id }} {{params.day}} {{ attempt }}\n";
        var dag = DagParser.Parse("t.yaml", Yaml, TestBackends.Catalog, "t").Dag!;

        var rendered = Templates.RenderTask(dag.Tasks[0], Context with { Params = dag.Params });

        Assert.Equal<string>(["echo", "daily", "mon", "2"], rendered.Command);
    }
}
