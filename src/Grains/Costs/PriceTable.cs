using System.Collections.Frozen;
using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Configuration;

namespace Batchyard.Costs;

/// <summary>A price found for an instance type: USD per instance-hour, and where it came from (for the cost's basis).</summary>
public sealed record InstancePrice(decimal UsdPerHour, string Source);

/// <summary>
/// On-demand USD per instance-hour of SageMaker instance types: the built-in table (<c>prices.json</c>, embedded,
/// with its source and date) per region, with <c>Batchyard:Prices:TYPE</c> overriding a type in every region.
/// </summary>
public sealed class PriceTable
{
    /// <summary>The configuration section of the overrides.</summary>
    public const string Section = "Batchyard:Prices";

    private readonly FrozenDictionary<string, FrozenDictionary<string, decimal>> _regions;
    private readonly FrozenDictionary<string, decimal> _overrides;

    public PriceTable(IConfiguration? configuration)
        : this(configuration?.GetSection(Section).GetChildren().Select(c => (c.Key, c.Value)) ?? [])
    {
    }

    /// <summary>The built-in table with <paramref name="overrides"/> (type, USD per hour; values that are not numbers are ignored).</summary>
    public PriceTable(IEnumerable<(string Type, string? Value)> overrides)
    {
        (AsOf, Source, _regions) = Builtin.Value;
        _overrides = overrides
            .Where(o => decimal.TryParse(o.Value, NumberStyles.Number, CultureInfo.InvariantCulture, out var usd) && usd >= 0)
            .ToFrozenDictionary(o => o.Type, o => decimal.Parse(o.Value!, NumberStyles.Number, CultureInfo.InvariantCulture), StringComparer.OrdinalIgnoreCase);
    }

    private static readonly Lazy<(string AsOf, string Source, FrozenDictionary<string, FrozenDictionary<string, decimal>> Regions)> Builtin = new(Load);

    /// <summary>The date of the built-in list prices.</summary>
    public string AsOf { get; }

    /// <summary>Where the built-in prices come from.</summary>
    public string Source { get; }

    /// <summary>The regions the built-in table knows.</summary>
    public IEnumerable<string> Regions => _regions.Keys;

    /// <summary>The price of <paramref name="instanceType"/> in <paramref name="region"/>, or null when neither an override nor the table has one.</summary>
    public InstancePrice? Find(string instanceType, string? region)
    {
        if (_overrides.TryGetValue(instanceType, out var configured))
        {
            return new InstancePrice(configured, $"{Section}:{instanceType}");
        }
        if (region is not null && _regions.TryGetValue(region, out var prices) && prices.TryGetValue(instanceType, out var listed))
        {
            return new InstancePrice(listed, $"list price in {region} as of {AsOf}");
        }
        return null;
    }

    private static (string, string, FrozenDictionary<string, FrozenDictionary<string, decimal>>) Load()
    {
        using var stream = typeof(PriceTable).Assembly.GetManifestResourceStream("Batchyard.Costs.prices.json")
            ?? throw new InvalidOperationException("the built-in price table (Batchyard.Costs.prices.json) is not embedded");
        using var document = JsonDocument.Parse(stream);
        var root = document.RootElement;
        var regions = root.GetProperty("regions").EnumerateObject().ToFrozenDictionary(
            r => r.Name,
            r => r.Value.EnumerateObject().ToFrozenDictionary(p => p.Name, p => p.Value.GetDecimal(), StringComparer.OrdinalIgnoreCase),
            StringComparer.Ordinal);
        return (root.GetProperty("asOf").GetString() ?? "", root.GetProperty("source").GetString() ?? "", regions);
    }
}
