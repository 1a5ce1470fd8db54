using Batchyard.Dags;

namespace Batchyard.Tests.Dags;

/// <summary>Whatever text arrives (the API accepts any body), parsing ends in problems, never in an exception.</summary>
public class MalformedInputTests
{
    [Fact]
    public void Parse_DeepNesting_IsASyntaxProblem()
    {
        var text = "tasks: " + new string('[', 1000) + new string(']', 1000);

        var result = DagParser.Parse("deep.yaml", text, TestBackends.Catalog, "deep");

        Assert.Equal<string>(["deep.yaml:1: YAML syntax error: nested more than 64 levels deep"], result.Problems.Select(p => p.ToString()));
    }

    [Fact]
    public void Parse_APoolNamedLikeAQuota_IsAProblemOnItsLine()
    {
        var result = DagParser.Parse("pool.yaml", "tasks:\n  a:\n    command: [true]\n    pool: \"quota:ml.g5.xlarge\"\n", TestBackends.Catalog, "pool");

        var problem = Assert.Single(result.Problems);
        Assert.Equal(4, problem.Line);
        Assert.Contains("may not start with 'quota:'", problem.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("deadline: { within: 2 hours }\ntasks:\n  a:\n    command: [true]\n", "late.yaml:1: bad duration '2 hours' for 'deadline.within' (use e.g. 500ms, 30s, 5m, 2h, 1d or 1h30m)")]
    [InlineData("deadline: { within: 2h, after: started }\ntasks:\n  a:\n    command: [true]\n", "late.yaml:1: unknown 'deadline.after' 'started' (use logical_date or queued)")]
    [InlineData("deadline:\n  within: 2h\n  befor: queued\ntasks:\n  a:\n    command: [true]\n", "late.yaml:3: unknown key 'befor' in 'deadline'")]
    [InlineData("deadline:\n  after: queued\ntasks:\n  a:\n    command: [true]\n", "late.yaml:2: 'deadline' needs 'within' (how long a run may take, e.g. within: 2h)")]
    [InlineData("deadline: { within: 0s }\ntasks:\n  a:\n    command: [true]\n", "late.yaml:1: 'deadline.within' must be longer than 0s")]
    [InlineData("deadline: 2h\ntasks:\n  a:\n    command: [true]\n", "late.yaml:1: 'deadline' of a DAG must be a map, e.g. deadline: { within: 2h, after: logical_date }")]
    [InlineData("deadline: [2h]\ntasks:\n  a:\n    command: [true]\n", "late.yaml:1: 'deadline' must be a map, not a list")]
    [InlineData("tasks:\n  a:\n    command: [true]\n    deadline: soon\n", "late.yaml:4: bad duration 'soon' for 'deadline' (use e.g. 500ms, 30s, 5m, 2h, 1d or 1h30m)")]
    [InlineData("tasks:\n  a:\n    command: [true]\n    deadline: 0m\n", "late.yaml:4: 'deadline' of a task must be longer than 0s")]
    [InlineData("tasks:\n  a:\n    command: [true]\n    deadline: { within: 30m }\n", "late.yaml:4: 'deadline' must be text, not a map")]
    public void Parse_ABadDeadline_IsRefusedOnItsLine(string text, string problem)
    {
        var result = DagParser.Parse("late.yaml", text, TestBackends.Catalog, "late");

        Assert.Null(result.Dag);
        // An unknown key's problem goes on with a suggestion.
        Assert.StartsWith(problem, Assert.Single(result.Problems).ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_EmptyAnchorAtEndOfFlowList_IsASyntaxProblem()
    {
        var result = DagParser.Parse("anchor.yaml", "tasks:\n  a:\n    command: [echo, a&\n", TestBackends.Catalog, "anchor");

        var problem = Assert.Single(result.Problems);
        Assert.Equal(3, problem.Line);
        Assert.StartsWith("YAML syntax error: ", problem.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_RandomlyMangledCorpusFiles_NeverThrow()
    {
        var random = new Random(42);
        var files = Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "Dags", "Corpus"), "*.yaml", SearchOption.AllDirectories);
        const string Alphabet = "[]{}:,-#&*!|>'\"%@` \n\t>>abc{{ }}0123";
        var refused = 0;
        for (var n = 0; n < 3000; n++)
        {
            var chars = File.ReadAllText(files[random.Next(files.Length)]).ToList();
            for (var edits = random.Next(1, 6); edits > 0 && chars.Count > 0; edits--)
            {
                var at = random.Next(chars.Count);
                switch (random.Next(3))
                {
                    case 0: chars.RemoveAt(at); break;
                    case 1: chars.Insert(at, Alphabet[random.Next(Alphabet.Length)]); break;
                    default: chars[at] = Alphabet[random.Next(Alphabet.Length)]; break;
                }
            }

            var result = DagParser.Parse("mangled.yaml", new string([.. chars]), TestBackends.Catalog, "mangled");

            Assert.Equal(result.Problems.IsEmpty, result.Ok);
            Assert.All(result.Problems, p => Assert.InRange(p.Line, 1, chars.Count(c => c == '\n') + 1));
            refused += result.Ok ? 0 : 1;
        }
        Assert.True(refused > 0);
    }
}
