using System.Collections.Immutable;
using Batchyard.Backends;

namespace Batchyard.Dags;

/// <summary>A DAG file read: the DAG when the file is valid, and every problem found either way.</summary>
public sealed record DagParseResult(DagDefinition? Dag, ImmutableArray<DagProblem> Problems)
{
    public bool Ok => Dag is not null;
}

/// <summary>Reads a DAG file (YAML, or JSON since it is YAML) into a <see cref="DagDefinition"/>.</summary>
public static class DagParser
{
    /// <summary>
    /// Parses and validates one DAG file. A file with any problem yields no DAG, so that a broken edit never
    /// replaces the last good version; all problems are listed, in line order, so one round of fixes suffices.
    /// </summary>
    /// <param name="fileName">Named in each problem, e.g. <c>daily.yaml</c>.</param>
    /// <param name="text">The file's contents.</param>
    /// <param name="backends">The backends that exist; each task is checked by its own.</param>
    /// <param name="defaultId">The DAG id when the file has no <c>id:</c> (the file name without extension, or the API's dagId).</param>
    public static DagParseResult Parse(string fileName, string text, BackendCatalog backends, string? defaultId = null)
    {
        ArgumentNullException.ThrowIfNull(fileName);
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(backends);
        return new DagReader(fileName, text, backends).Read(defaultId);
    }
}
