using Batchyard.Dags;

namespace Batchyard.Tests.Dags;

/// <summary>Reads the DAG files under Dags/Corpus (copied next to the test assembly).</summary>
internal static class Corpus
{
    public static string Read(string name) =>
        File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Dags", "Corpus", name));

    /// <summary>Parses a corpus file the way the DAG folder loader would: id defaults to the file name.</summary>
    public static DagParseResult Parse(string name) =>
        DagParser.Parse(name, Read(name), TestBackends.Catalog, Path.GetFileNameWithoutExtension(name));

    public static string[] Problems(string name) => [.. Parse(name).Problems.Select(p => p.ToString())];
}
