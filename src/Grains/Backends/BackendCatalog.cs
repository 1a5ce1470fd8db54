using System.Collections.Frozen;
using System.Collections.Immutable;
using System.Globalization;

namespace Batchyard.Backends;

/// <summary>The backends this silo has, by name.</summary>
public sealed class BackendCatalog(IEnumerable<IJobBackend> backends)
{
    /// <summary>How long a description may take before it is shown as not known yet (the backend's check goes on).</summary>
    public static readonly TimeSpan DescribePatience = TimeSpan.FromSeconds(2);

    private readonly FrozenDictionary<string, IJobBackend> _byName =
        backends.ToFrozenDictionary(b => b.Name, StringComparer.Ordinal);

    public IEnumerable<string> Names => _byName.Keys.Order(StringComparer.Ordinal);

    public IJobBackend? Find(string name) => _byName.GetValueOrDefault(name);

    public IJobBackend Get(string name) =>
        Find(name) ?? throw new InvalidOperationException($"no backend named '{name}' is registered");

    /// <summary>
    /// Every backend's description of itself, by name, all at once. One that takes longer than
    /// <paramref name="patience"/> (default <see cref="DescribePatience"/>) or fails is described as degraded with
    /// why: a health page never waits on, or breaks for, one slow backend.
    /// </summary>
    public async Task<ImmutableArray<BackendHealth>> DescribeHealthAsync(TimeSpan? patience = null, CancellationToken cancellationToken = default)
    {
        var wait = patience ?? DescribePatience;
        var descriptions = await Task.WhenAll(Names.Select(name => DescribeAsync(_byName[name], wait, cancellationToken)));
        return [.. descriptions];
    }

    private static async Task<BackendHealth> DescribeAsync(IJobBackend backend, TimeSpan patience, CancellationToken cancellationToken)
    {
        try
        {
            // The backend's own check is not tied to this caller: when it outlasts the patience it still ends, and
            // a backend that caches its answer has it ready for the next caller.
            return await backend.DescribeHealthAsync(CancellationToken.None).WaitAsync(patience, cancellationToken);
        }
        catch (TimeoutException)
        {
            return Unknown(backend, $"no description within {patience.TotalSeconds.ToString("0.#", CultureInfo.InvariantCulture)} s; still checking");
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            return Unknown(backend, "describing itself failed: " + ex.Message);
        }
    }

    private static BackendHealth Unknown(IJobBackend backend, string message) =>
        new() { Backend = backend.Name, Status = BackendStatus.Degraded, Message = message };
}
