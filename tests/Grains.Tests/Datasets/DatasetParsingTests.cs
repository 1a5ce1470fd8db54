using Batchyard.Dags;
using Batchyard.Tests.Dags;

namespace Batchyard.Tests.Datasets;

public class DatasetParsingTests
{
    [Fact]
    public void Parse_ProducesAndOnDatasets_ReadsThem()
    {
        const string text = """
            id: fresh
            on_datasets: [features-daily, labels]
            schedule: "0 5 * * 1"
            tasks:
              features:
                backend: noop
                produces: [features-daily]
            """;

        var result = DagParser.Parse("fresh.yaml", text, TestBackends.Lenient, "fresh");

        Assert.Empty(result.Problems);
        Assert.Equal<string>(["features-daily", "labels"], result.Dag!.OnDatasets);
        Assert.Equal<string>(["features-daily"], result.Dag.FindTask("features")!.Produces);
    }

    [Fact]
    public void Parse_BadDatasetNames_AreProblemsAtTheirLines()
    {
        const string text = """
            id: bad
            on_datasets: [Upper, ok, ok]
            tasks:
              t:
                backend: noop
                produces: features
            """;

        var result = DagParser.Parse("bad.yaml", text, TestBackends.Lenient, "bad");

        Assert.Equal<string>(
        [
            "bad.yaml:2: bad dataset name 'Upper' in 'on_datasets' (lower-case letters, digits, '.', '_' and '-', starting with a letter or digit, at most 100)",
            "bad.yaml:2: dataset 'ok' is listed twice in 'on_datasets'",
            "bad.yaml:6: 'produces' must be a list of dataset names, e.g. produces: [features]",
        ], result.Problems.Select(p => p.ToString()));
    }
}
