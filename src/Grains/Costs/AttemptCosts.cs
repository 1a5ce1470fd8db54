using System.Collections.Immutable;
using System.Globalization;
using Batchyard.Runs;
using Microsoft.Extensions.Configuration;

namespace Batchyard.Costs;

/// <summary>The price of local compute (<c>Batchyard:Local:CpuHourUsd</c>, <c>Batchyard:Local:GbHourUsd</c>); 0 unless configured.</summary>
public sealed record LocalPrices(decimal CpuHourUsd = 0m, decimal GbHourUsd = 0m)
{
    public static LocalPrices From(IConfiguration? configuration) =>
        new(Read(configuration?["Batchyard:Local:CpuHourUsd"]), Read(configuration?["Batchyard:Local:GbHourUsd"]));

    private static decimal Read(string? text) =>
        decimal.TryParse(text, NumberStyles.Number, CultureInfo.InvariantCulture, out var usd) && usd >= 0 ? usd : 0m;
}

/// <summary>
/// Works out what an attempt cost from the facts its backend reported (<see cref="CostFacts"/>) and the prices:
/// SageMaker from billable (training) or start-to-end (processing) seconds, warm-pool time included, × instance
/// count × the instance-hour price; a local job from its cpu-seconds and GB-seconds (memory peak × wall time).
/// </summary>
public sealed class AttemptCosts(PriceTable prices, LocalPrices local)
{
    private const double BytesPerGb = 1024d * 1024d * 1024d;

    /// <summary>The cost of an ended attempt, or null when its backend reported nothing to bill by.</summary>
    public AttemptCost? Of(ImmutableDictionary<string, string> details, DateTimeOffset? startedAt, DateTimeOffset? endedAt)
    {
        ArgumentNullException.ThrowIfNull(details);
        var wall = startedAt is { } s && endedAt is { } e && e > s ? (e - s).TotalSeconds : 0d;
        return details.GetValueOrDefault(CostFacts.Billing) switch
        {
            CostFacts.Instance => Instance(details, wall),
            CostFacts.Local => Local(details, wall),
            CostFacts.None => new AttemptCost { Usd = 0m, ComputeSeconds = 0, Basis = "noop", InstanceType = "noop" },
            _ => null,
        };
    }

    private AttemptCost Instance(ImmutableDictionary<string, string> details, double wall)
    {
        var type = details.GetValueOrDefault(CostFacts.InstanceType) ?? "unknown";
        var count = Math.Max(1, Int(details, CostFacts.InstanceCount) ?? 1);
        var region = details.GetValueOrDefault(CostFacts.Region);
        var billable = Number(details, CostFacts.BillableSeconds);
        var training = Number(details, CostFacts.TrainingSeconds);
        var retained = Number(details, CostFacts.WarmPoolSeconds) ?? 0;
        // Training bills its billable seconds (spot: less than it trained); processing bills start to end.
        var perInstance = Math.Round(billable ?? wall, 3);
        var computeSeconds = (perInstance + retained) * count;

        var basis = $"{count} x {type}, {Seconds(perInstance)} s";
        if (retained > 0)
        {
            basis += $" + {Seconds(retained)} s warm pool";
        }
        if (billable is { } b && training is { } t && t > 0 && b < t)
        {
            basis += $" (spot saving {Percent(1 - (b / t))} %: {Seconds(b)} of {Seconds(t)} s billed)";
        }
        if (prices.Find(type, region) is not { } price)
        {
            return new AttemptCost
            {
                Usd = null,
                ComputeSeconds = computeSeconds,
                Basis = $"{basis}; no price for {type} in {region ?? "an unknown region"} (set {PriceTable.Section}:{type})",
                InstanceType = type,
            };
        }
        return new AttemptCost
        {
            Usd = Usd((decimal)computeSeconds * price.UsdPerHour / 3600m),
            ComputeSeconds = computeSeconds,
            Basis = $"{basis} at {price.UsdPerHour.ToString(CultureInfo.InvariantCulture)} USD/h ({price.Source})",
            InstanceType = type,
        };
    }

    private AttemptCost Local(ImmutableDictionary<string, string> details, double wall)
    {
        var cpu = Number(details, CostFacts.CpuSeconds);
        var peak = Number(details, CostFacts.MemoryPeakBytes);
        if (cpu is null && peak is null)
        {
            return new AttemptCost
            {
                Usd = local.CpuHourUsd == 0 && local.GbHourUsd == 0 ? 0m : null,
                ComputeSeconds = 0,
                Basis = $"{Seconds(wall)} s wall; cpu and memory not measured (no cgroup)",
                InstanceType = CostFacts.Local,
            };
        }
        var cpuSeconds = Math.Round(cpu ?? 0, 3);
        var gb = (peak ?? 0) / BytesPerGb;
        var gbSeconds = gb * wall;
        var usd = Usd(((decimal)cpuSeconds * local.CpuHourUsd + (decimal)gbSeconds * local.GbHourUsd) / 3600m);
        var usage = $"{Seconds(cpuSeconds)} cpu-s, {Peak(peak ?? 0)} peak x {Seconds(wall)} s";
        var basis = local.CpuHourUsd == 0 && local.GbHourUsd == 0
            ? $"{usage}; local compute is not priced (Batchyard:Local:CpuHourUsd and GbHourUsd are 0)"
            : $"{usage} at {local.CpuHourUsd.ToString(CultureInfo.InvariantCulture)} USD/cpu-h + {local.GbHourUsd.ToString(CultureInfo.InvariantCulture)} USD/GB-h";
        return new AttemptCost { Usd = usd, ComputeSeconds = cpuSeconds, Basis = basis, InstanceType = CostFacts.Local };
    }

    /// <summary>A memory peak in words: GB from one GiB up, MB below (a small job's peak would read "0 GB").</summary>
    private static string Peak(double bytes) => bytes >= BytesPerGb
        ? (bytes / BytesPerGb).ToString("0.###", CultureInfo.InvariantCulture) + " GB"
        : (bytes / (1024 * 1024)).ToString("0.#", CultureInfo.InvariantCulture) + " MB";

    private static decimal Usd(decimal value) => Math.Round(value, 6, MidpointRounding.AwayFromZero);

    private static string Seconds(double seconds) => seconds.ToString("0.###", CultureInfo.InvariantCulture);

    private static string Percent(double fraction) => (fraction * 100).ToString("0.#", CultureInfo.InvariantCulture);

    private static double? Number(ImmutableDictionary<string, string> details, string key) =>
        details.TryGetValue(key, out var text) && double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && value >= 0 ? value : null;

    private static int? Int(ImmutableDictionary<string, string> details, string key) =>
        details.TryGetValue(key, out var text) && int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) ? value : null;
}
