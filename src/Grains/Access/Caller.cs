using System.Collections.Immutable;

namespace Batchyard.Access;

/// <summary>
/// Who makes a call: the name of the key it presented (never the key), its role, and the DAG tags it is limited
/// to (none: every DAG). Without any key configured every call is <see cref="Anonymous"/>, an unlimited admin.
/// </summary>
public sealed record Caller(string Name, AccessRole Role, ImmutableArray<string> Tags)
{
    /// <summary>The caller of a server without keys.</summary>
    public static Caller Anonymous { get; } = new("anonymous", AccessRole.Admin, []);

    /// <summary>A session whose key is gone: a viewer limited to a tag no DAG can have, so it sees and may do nothing.</summary>
    public static Caller Nobody { get; } = new("signed-out", AccessRole.Viewer, ["\0"]);

    /// <summary>True when the key is limited to DAGs with some tags.</summary>
    public bool IsTagLimited => !Tags.IsDefaultOrEmpty;

    public bool Allows(Permission permission) => Role >= permission.LeastRole();

    /// <summary>Whether a DAG with <paramref name="dagTags"/> is this caller's to see and act on: it has one of the key's tags.</summary>
    public bool Sees(IEnumerable<string> dagTags) => !IsTagLimited || dagTags.Any(t => Tags.Contains(t, StringComparer.Ordinal));

    /// <summary>Whether the DAG is this caller's (a DAG without a valid version has no tags: only unlimited keys see it).</summary>
    public bool SeesDag(Batchyard.Dags.DagInfo info) => Sees(info?.Definition?.Tags ?? []);

    /// <summary>Whether this caller may apply a DAG file with <paramref name="dagTags"/>: every tag is one of the key's (and there is one).</summary>
    public bool MayApply(IReadOnlyCollection<string> dagTags) =>
        !IsTagLimited || (dagTags.Count > 0 && dagTags.All(t => Tags.Contains(t, StringComparer.Ordinal)));
}
