using Batchyard.Dags;

namespace Batchyard.Tests.Dags;

/// <summary>The example DAGs in the repository's <c>dags/</c> folder, which <c>dotnet run --project src/Silo</c> loads in development, all parse.</summary>
public sealed class ExampleDagsTests
{
    [Fact]
    public void EveryExampleDag_Parses_WithAnIdOfItsOwn()
    {
        var folder = Path.Combine(RepoRoot(), "dags");
        var files = Directory.GetFiles(folder, "*.yaml").Order(StringComparer.Ordinal).ToList();
        Assert.NotEmpty(files);
        var ids = new HashSet<string>(StringComparer.Ordinal);
        foreach (var file in files)
        {
            var result = DagParser.Parse(Path.GetFileName(file), File.ReadAllText(file), TestBackends.Catalog);
            Assert.True(result.Problems.IsEmpty, $"{Path.GetFileName(file)}: {string.Join("; ", result.Problems)}");
            Assert.NotNull(result.Dag);
            Assert.True(ids.Add(result.Dag.DagId), $"{Path.GetFileName(file)}: id {result.Dag.DagId} is taken by another example");
        }
    }

    private static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Orleans.sln")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException("Orleans.sln not found above " + AppContext.BaseDirectory);
    }
}
