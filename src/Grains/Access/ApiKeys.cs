using System.Collections.Immutable;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Configuration;

namespace Batchyard.Access;

/// <summary>
/// The configured keys: the legacy <c>Batchyard:ApiKey</c> (an admin key named <c>default</c>) and the named keys
/// <c>Batchyard:ApiKeys:NAME:Key</c> with <c>:Role</c> and <c>:Tags</c>. Only the SHA-256 of each key is kept;
/// a presented key is hashed and compared with every configured hash in constant time.
/// </summary>
public sealed class ApiKeys
{
    /// <summary>The name the legacy single key goes by (in the audit log and <c>triggeredBy</c>).</summary>
    public const string LegacyKeyName = "default";

    private readonly ImmutableArray<(byte[] Hash, Caller Caller)> _keys;

    public ApiKeys(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var keys = ImmutableArray.CreateBuilder<(byte[], Caller)>();
        if (configuration["Batchyard:ApiKey"] is { Length: > 0 } legacy)
        {
            keys.Add((Hash(legacy), new Caller(LegacyKeyName, AccessRole.Admin, [])));
        }
        foreach (var entry in configuration.GetSection("Batchyard:ApiKeys").GetChildren())
        {
            var key = entry["Key"];
            if (string.IsNullOrEmpty(key))
            {
                throw new InvalidOperationException($"Batchyard:ApiKeys:{entry.Key} has no Key (set Batchyard__ApiKeys__{entry.Key}__Key)");
            }
            var roleText = entry["Role"];
            if (string.IsNullOrEmpty(roleText) || !Enum.TryParse<AccessRole>(roleText, ignoreCase: true, out var role) || !Enum.IsDefined(role) || int.TryParse(roleText, out _))
            {
                throw new InvalidOperationException($"Batchyard:ApiKeys:{entry.Key}:Role must be viewer, operator or admin, not '{roleText}'");
            }
            if (keys.Any(k => k.Item2.Name == entry.Key))
            {
                throw new InvalidOperationException($"Batchyard:ApiKeys:{entry.Key}: the name '{LegacyKeyName}' is the legacy Batchyard:ApiKey's");
            }
            keys.Add((Hash(key), new Caller(entry.Key, role, ReadTags(entry.GetSection("Tags")))));
        }
        _keys = keys.ToImmutable();
    }

    /// <summary>True when at least one key is configured: calls must present one.</summary>
    public bool Enabled => !_keys.IsEmpty;

    /// <summary>The names of the configured keys (for a start-up line; never the keys).</summary>
    public IEnumerable<string> Names => _keys.Select(k => k.Caller.Name);

    /// <summary>
    /// The caller whose key is <paramref name="presented"/>, or null. Every configured hash is compared (no early
    /// exit) with <see cref="CryptographicOperations.FixedTimeEquals"/>, so the time says nothing about the keys.
    /// </summary>
    public Caller? Find(string? presented)
    {
        if (presented is null)
        {
            return null;
        }
        var hash = Hash(presented);
        Caller? found = null;
        foreach (var (keyHash, caller) in _keys)
        {
            if (CryptographicOperations.FixedTimeEquals(hash, keyHash))
            {
                found ??= caller;
            }
        }
        return found;
    }

    /// <summary>A stamp of the key a caller signed in with (its hash, hex), so that a session ends when its key changes.</summary>
    public string? Stamp(string callerName) =>
        _keys.FirstOrDefault(k => k.Caller.Name == callerName) is { Hash: { } hash } ? Convert.ToHexString(SHA256.HashData(hash)) : null;

    /// <summary>The caller named <paramref name="name"/> (a signed-in session's key), or null when no longer configured.</summary>
    public Caller? Named(string name) => _keys.FirstOrDefault(k => k.Caller.Name == name).Caller;

    /// <summary><c>Tags</c> as a comma list (<c>recsys,search</c>) or an array (<c>Tags:0</c>, <c>Tags:1</c>).</summary>
    private static ImmutableArray<string> ReadTags(IConfigurationSection section)
    {
        var values = section.Value is { } list ? list.Split(',') : section.GetChildren().Select(c => c.Value ?? "");
        return [.. values.Select(v => v.Trim()).Where(v => v.Length > 0).Distinct(StringComparer.Ordinal)];
    }

    private static byte[] Hash(string key) => SHA256.HashData(Encoding.UTF8.GetBytes(key));
}
