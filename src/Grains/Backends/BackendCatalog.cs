using System.Collections.Frozen;

namespace Batchyard.Backends;

/// <summary>The backends this silo has, by name.</summary>
public sealed class BackendCatalog(IEnumerable<IJobBackend> backends)
{
    private readonly FrozenDictionary<string, IJobBackend> _byName =
        backends.ToFrozenDictionary(b => b.Name, StringComparer.Ordinal);

    public IEnumerable<string> Names => _byName.Keys.Order(StringComparer.Ordinal);

    public IJobBackend? Find(string name) => _byName.GetValueOrDefault(name);

    public IJobBackend Get(string name) =>
        Find(name) ?? throw new InvalidOperationException($"no backend named '{name}' is registered");
}
