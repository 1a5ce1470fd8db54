using Batchyard.Backfills;
using Batchyard.Dags;
using Batchyard.Grains;

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

    [Fact]
    public void DailyReport_January1To30_IsThirtySlotsToBackfill()
    {
        var dag = Parse("daily-report.yaml");
        // As `dags backfill --from 2026-01-01 --to 2026-01-30` sends it: a date as --to counts that day whole.
        var request = new BackfillRequest { From = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero), To = new DateTimeOffset(2026, 1, 31, 0, 0, 0, TimeSpan.Zero).AddTicks(-1) };

        Assert.Null(BackfillSlots.Check(dag, request, out var total));
        Assert.Equal(30, total);
    }

    [Fact]
    public void DatasetExamples_TheConsumerWaitsOnWhatTheProducerMakes()
    {
        var producer = Parse("dataset-producer.yaml");
        var consumer = Parse("dataset-consumer.yaml");

        var produced = Assert.Single(producer.Tasks.SelectMany(t => t.Produces));
        Assert.Equal([produced], consumer.OnDatasets.ToArray());
    }

    private static DagDefinition Parse(string file)
    {
        var result = DagParser.Parse(file, File.ReadAllText(Path.Combine(RepoRoot(), "dags", file)), TestBackends.Catalog);
        Assert.True(result.Problems.IsEmpty, string.Join("; ", result.Problems));
        return result.Dag!;
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
