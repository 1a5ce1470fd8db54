using System.Globalization;
using Batchyard.Backends;
using Batchyard.Costs;
using static Batchyard.Tests.Backends.Local.LocalTestKit;

namespace Batchyard.Tests.Backends.Local;

/// <summary>A local job's cost comes from its own cgroup: the cpu it burned and its memory high-water mark. Needs a usable cgroup.</summary>
public sealed class LocalJobCostTests
{
    [Fact]
    public async Task JobThatBurnsCpuAndHoldsMemory_ReportsItsCgroupsCpuSecondsAndMemoryPeak_AndIsPricedFromThem()
    {
        await using var backend = NewBackend();
        RequireCgroup(backend);
        // Burns until its own cpu clock says 0.6 s (work, not wall time), while holding 64 MiB it has touched.
        var log = new RecordingLog();
        var request = Request(
            [Python, "-c", "import time\nheld = bytearray(64 * 1024 * 1024)\nfor i in range(0, len(held), 4096): held[i] = 1\nwhile time.process_time() < 0.6: pass\nprint('burned', flush=True)"],
            log,
            memoryMb: 256);

        var final = await RunAsync(backend, request);

        Assert.Equal(JobState.Succeeded, final.State);
        Assert.Equal(CostFacts.Local, final.Details[CostFacts.Billing]);
        Assert.True(final.Details.ContainsKey(CostFacts.CpuSeconds), $"no cpu time measured; details: {string.Join(", ", final.Details)} (isolation: {backend.Isolation})");
        var cpuSeconds = double.Parse(final.Details[CostFacts.CpuSeconds], CultureInfo.InvariantCulture);
        var peak = long.Parse(final.Details[CostFacts.MemoryPeakBytes], CultureInfo.InvariantCulture);
        // The job's own clock said 0.6 s; the cgroup's accounting of the same work may read a hair less.
        Assert.InRange(cpuSeconds, 0.5, 60);
        Assert.InRange(peak, 64L * 1024 * 1024, 256L * 1024 * 1024);

        var cost = new AttemptCosts(new PriceTable([]), new LocalPrices(CpuHourUsd: 3600m, GbHourUsd: 0m)).Of(final.Details, final.StartedAt, final.EndedAt)!;
        // At 3600 USD per cpu-hour, a cpu-second costs one dollar.
        Assert.Equal(Math.Round((decimal)Math.Round(cpuSeconds, 3), 6), cost.Usd);
        Assert.Equal(Math.Round(cpuSeconds, 3), cost.ComputeSeconds);
        Assert.Contains("cpu-s", cost.Basis, StringComparison.Ordinal);
    }
}
