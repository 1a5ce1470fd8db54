using Batchyard.Backfills;
using Batchyard.Dags;
using Batchyard.Grains;

namespace Batchyard.Tests.Dags;

/// <summary>The repository's <c>dags/*.yaml</c> (what <c>dotnet run --project src/Silo</c> loads) parse without a problem.</summary>
public sealed class ExampleDagsTests
{
    private static readonly string Folder = FindDagsFolder();

    public static TheoryData<string> Files() => [.. Directory.GetFiles(Folder, "*.yaml").Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal)];

    [Theory]
    [MemberData(nameof(Files))]
    public void ExampleDag_Parses_WithNoProblem(string file)
    {
        var result = Parse(file);

        Assert.True(result.Ok, string.Join('\n', result.Problems));
        Assert.Empty(result.Problems);
    }

    [Fact]
    public void DailyReport_January1To30_IsThirtySlotsToBackfill()
    {
        var dag = Parse("daily-report.yaml").Dag!;
        // As `dags backfill --from 2026-01-01 --to 2026-01-30` sends it: a date as --to counts that day whole.
        var request = new BackfillRequest { From = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero), To = new DateTimeOffset(2026, 1, 31, 0, 0, 0, TimeSpan.Zero).AddTicks(-1) };

        Assert.Null(BackfillSlots.Check(dag, request, out var total));
        Assert.Equal(30, total);
    }

    [Fact]
    public void DatasetExamples_TheConsumerWaitsOnWhatTheProducerMakes()
    {
        var producer = Parse("dataset-producer.yaml").Dag!;
        var consumer = Parse("dataset-consumer.yaml").Dag!;

        var produced = Assert.Single(producer.Tasks.SelectMany(t => t.Produces));
        Assert.Equal([produced], consumer.OnDatasets.ToArray());
    }

    private static DagParseResult Parse(string file) =>
        DagParser.Parse(file, File.ReadAllText(Path.Combine(Folder, file)), TestBackends.Catalog, Path.GetFileNameWithoutExtension(file));

    private static string FindDagsFolder()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Orleans.sln")))
            {
                return Path.Combine(dir.FullName, "dags");
            }
        }
        throw new DirectoryNotFoundException("no Orleans.sln above " + AppContext.BaseDirectory);
    }
}
