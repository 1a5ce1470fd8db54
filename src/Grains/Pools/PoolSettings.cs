using System.Globalization;
using Microsoft.Extensions.Configuration;

namespace Batchyard.Pools;

/// <summary>
/// Pool sizes from configuration: <c>Batchyard:Pools:NAME</c> is the number of task attempts of pool
/// <c>NAME</c> that may run at once. A pool that is not configured (including <c>default</c>) is unlimited.
/// </summary>
public sealed class PoolSettings(IConfiguration configuration)
{
    /// <summary>The pool's slots, or null when it is not limited.</summary>
    public int? SlotsOf(string pool) =>
        int.TryParse(configuration[$"Batchyard:Pools:{pool}"], NumberStyles.None, CultureInfo.InvariantCulture, out var slots) ? slots : null;

    public bool IsLimited(string pool) => SlotsOf(pool) is not null;
}
