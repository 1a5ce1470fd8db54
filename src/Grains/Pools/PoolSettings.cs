using System.Globalization;
using Microsoft.Extensions.Configuration;

namespace Batchyard.Pools;

/// <summary>
/// Pool sizes from configuration: <c>Batchyard:Pools:NAME</c> is the number of task attempts of pool
/// <c>NAME</c> that may run at once. A pool that is not configured (including <c>default</c>) is unlimited.
/// <c>Batchyard:Quotas:TYPE</c> is the number of instances of type <c>TYPE</c> (e.g. <c>ml.g5.xlarge</c>) that may
/// run at once; a quota is the pool <c>quota:TYPE</c>.
/// </summary>
public sealed class PoolSettings(IConfiguration configuration)
{
    public const string QuotaPrefix = "quota:";

    /// <summary>The pool that holds the quota of <paramref name="resource"/>.</summary>
    public static string QuotaPool(string resource) => QuotaPrefix + resource;

    public static bool IsQuota(string pool) => pool.StartsWith(QuotaPrefix, StringComparison.Ordinal);

    /// <summary>The pool's slots (a quota's instances), or null when it is not limited.</summary>
    public int? SlotsOf(string pool) =>
        int.TryParse(configuration[IsQuota(pool) ? $"Batchyard:Quotas:{pool[QuotaPrefix.Length..]}" : $"Batchyard:Pools:{pool}"], NumberStyles.None, CultureInfo.InvariantCulture, out var slots) ? slots : null;

    public bool IsLimited(string pool) => SlotsOf(pool) is not null;

    /// <summary>The configured pools' names, then the configured quotas' pools (<c>quota:TYPE</c>).</summary>
    public IEnumerable<string> Configured =>
        configuration.GetSection("Batchyard:Pools").GetChildren().Select(c => c.Key)
            .Concat(configuration.GetSection("Batchyard:Quotas").GetChildren().Select(c => QuotaPool(c.Key)));
}
