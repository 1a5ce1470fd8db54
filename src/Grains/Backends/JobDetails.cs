using System.Collections.Immutable;

namespace Batchyard.Backends;

/// <summary>Helpers for the backend facts an attempt keeps (<see cref="JobStatus.Details"/>).</summary>
public static class JobDetails
{
    /// <summary>Whether both hold the same keys with the same values.</summary>
    public static bool Same(ImmutableDictionary<string, string> a, ImmutableDictionary<string, string> b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        return a.Count == b.Count && a.All(d => b.TryGetValue(d.Key, out var value) && value == d.Value);
    }
}
