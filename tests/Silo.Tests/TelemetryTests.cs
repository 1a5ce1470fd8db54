using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Trace;

namespace Batchyard.Tests;

/// <summary>
/// One host with spans collected in memory; <c>/metrics</c> scraped over HTTP. Meters and span sources are seen
/// by every listener of the process, so these tests run alone (no other host lives meanwhile) and read their
/// own DAG's series, or differences over their own run.
/// </summary>
[Collection(TelemetryCollection.Name)]
public sealed partial class TelemetryTests(TelemetryFixture fixture)
{
    private BatchyardTestHost Host => fixture.Host;

    [Fact]
    public async Task Metrics_AfterOneRun_CountTheRunItsAttemptsAndTheirDurations()
    {
        var dagId = HostFixture.NewDagId("metrics");
        await Host.ApplyAsync(dagId, TestDags.Quick(dagId));
        var before = await ScrapeAsync();

        var runId = await Host.TriggerAsync(dagId);
        Assert.Equal("succeeded", (await Host.WaitForRunEndAsync(dagId, runId)).GetProperty("state").GetString());
        // Counted once the run's end is durable: wait for it, then every figure must be exact.
        var after = await ScrapeUntilAsync(m => Sample(m, "batchyard_runs_total", ("dag", dagId), ("state", "succeeded")) >= 1);

        Assert.Equal(1, Sample(after, "batchyard_runs_total", ("dag", dagId), ("state", "succeeded")));
        Assert.Equal(0, Sample(after, "batchyard_runs_total", ("dag", dagId), ("state", "failed")));
        Assert.Equal(1, Delta(before, after, "batchyard_task_attempts_total", ("backend", "local"), ("outcome", "succeeded")));
        Assert.Equal(1, Delta(before, after, "batchyard_task_attempts_total", ("backend", "noop"), ("outcome", "succeeded")));
        Assert.Equal(2, Delta(before, after, "batchyard_task_duration_seconds_count"));
        Assert.Equal(1, Delta(before, after, "batchyard_task_duration_seconds_count", ("backend", "local")));
        Assert.True(Delta(before, after, "batchyard_task_duration_seconds_sum", ("backend", "local")) > 0, "the local task ran for some time");
        Assert.True(Delta(before, after, "batchyard_storage_write_seconds_count", ("store", "memory")) >= 1, "the run's events were committed");
        Assert.True(Delta(before, after, "batchyard_journal_batch_events_sum", ("store", "memory")) >= 5, "created, running, task events and the end");
        Assert.Equal(2048.0 * 1024 * 1024, Sample(after, "batchyard_local_memory_capacity_bytes"));
        Assert.True(Series(after, "batchyard_local_memory_in_use_bytes").Any(), "the local memory gauge is served");
        Assert.True(after.Any(s => s.Name.StartsWith("orleans_", StringComparison.Ordinal)), "Orleans' own meters are served");
        // Bounded labels: no run id anywhere in the scrape.
        Assert.DoesNotContain(after, s => s.Labels.Values.Any(v => v.Contains(runId, StringComparison.Ordinal)));
    }

    [Fact]
    public async Task Metrics_FailedRun_IsCountedAsFailed_WithItsFailedAttempt()
    {
        var dagId = HostFixture.NewDagId("metrics-fail");
        await Host.ApplyAsync(dagId, TestDags.Failing(dagId));
        var before = await ScrapeAsync();

        var runId = await Host.TriggerAsync(dagId);
        await Host.WaitForRunEndAsync(dagId, runId);
        var after = await ScrapeUntilAsync(m => Sample(m, "batchyard_runs_total", ("dag", dagId), ("state", "failed")) >= 1);

        Assert.Equal(1, Sample(after, "batchyard_runs_total", ("dag", dagId), ("state", "failed")));
        Assert.Equal(0, Sample(after, "batchyard_runs_total", ("dag", dagId), ("state", "succeeded")));
        Assert.Equal(1, Delta(before, after, "batchyard_task_attempts_total", ("backend", "local"), ("outcome", "failed")));
        Assert.Equal(0, Delta(before, after, "batchyard_task_attempts_total", ("backend", "local"), ("outcome", "succeeded")));
    }

    [Fact]
    public async Task Metrics_WithoutAMetricsKey_AreOpen_EvenWithAnApiKey()
    {
        using var http = Host.Http(null);

        using var response = await http.GetAsync("/metrics");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync("/api/v1/dags")).StatusCode);
    }

    [Fact]
    public async Task Traces_OneRun_IsOneTrace_WithASpanPerAttemptAndBackendCallsUnderThem()
    {
        var dagId = HostFixture.NewDagId("traces");
        await Host.ApplyAsync(dagId, TestDags.Quick(dagId));

        var runId = await Host.TriggerAsync(dagId);
        await Host.WaitForRunEndAsync(dagId, runId);

        var root = await fixture.WaitForSpanAsync(s => s.DisplayName == $"run {dagId}" && (string?)s.GetTagItem("batchyard.run") == runId);
        // The backend calls end a moment after the run: the watch ends once the backend has said its last word.
        var watch = await fixture.WaitForSpanAsync(s => s.TraceId == root.TraceId && s.DisplayName == "watch local");
        var spans = fixture.Spans.Where(s => s.TraceId == root.TraceId).ToList();
        Assert.Equal(default, root.ParentSpanId);
        Assert.Equal("succeeded", root.GetTagItem("batchyard.outcome"));
        var hello = Assert.Single(spans, s => s.DisplayName == "attempt hello");
        var after = Assert.Single(spans, s => s.DisplayName == "attempt after");
        Assert.Equal(root.SpanId, hello.ParentSpanId);
        Assert.Equal(root.SpanId, after.ParentSpanId);
        Assert.Equal(1, hello.GetTagItem("batchyard.attempt"));
        Assert.Equal(hello.SpanId, Assert.Single(spans, s => s.DisplayName == "submit local").ParentSpanId);
        Assert.Equal(hello.SpanId, watch.ParentSpanId);
        Assert.Equal(after.SpanId, Assert.Single(spans, s => s.DisplayName == "submit noop").ParentSpanId);
        // Every span of the run is in this one trace: none of its attempts or calls started a trace of its own.
        Assert.DoesNotContain(fixture.Spans, s => (string?)s.GetTagItem("batchyard.run") == runId && s.TraceId != root.TraceId);
    }

    [Fact]
    public async Task Traces_ARetriedTask_HasOneSpanPerAttempt()
    {
        var dagId = HostFixture.NewDagId("traces-retry");
        var marker = Path.Combine(Host.Folder, $"{dagId}.marker");
        await Host.ApplyAsync(dagId, TestDags.FailsOnce(dagId, marker, "first", "second"));

        var runId = await Host.TriggerAsync(dagId);
        await Host.WaitForRunEndAsync(dagId, runId);

        var root = await fixture.WaitForSpanAsync(s => s.DisplayName == $"run {dagId}");
        var attempts = fixture.Spans.Where(s => s.TraceId == root.TraceId && s.DisplayName == "attempt flaky").OrderBy(s => s.StartTimeUtc).ToList();
        Assert.Equal([1, 2], attempts.Select(a => (int)a.GetTagItem("batchyard.attempt")!));
        Assert.Equal(["failed", "succeeded"], attempts.Select(a => (string)a.GetTagItem("batchyard.outcome")!));
        Assert.Equal(ActivityStatusCode.Error, attempts[0].Status);
        Assert.All(attempts, a => Assert.Equal(root.SpanId, a.ParentSpanId));
    }

    private async Task<List<MetricSample>> ScrapeAsync()
    {
        using var http = Host.Http(null);
        var text = await http.GetStringAsync("/metrics");
        return [.. Parse(text)];
    }

    /// <summary>Scrapes until <paramref name="condition"/> holds (the exporter caches a scrape for a moment).</summary>
    private async Task<List<MetricSample>> ScrapeUntilAsync(Func<List<MetricSample>, bool> condition)
    {
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (true)
        {
            var samples = await ScrapeAsync();
            if (condition(samples))
            {
                return samples;
            }
            Assert.True(DateTime.UtcNow < until, "the scrape never showed it; it had: " + string.Join(", ", samples.Where(s => s.Name.StartsWith("batchyard", StringComparison.Ordinal)).Select(s => $"{s.Name}{{{string.Join(',', s.Labels.Select(l => $"{l.Key}={l.Value}"))}}} {s.Value}")));
            await Task.Delay(200);
        }
    }

    private static IEnumerable<MetricSample> Series(List<MetricSample> samples, string name, params (string Key, string Value)[] labels) =>
        samples.Where(s => s.Name == name && labels.All(l => s.Labels.TryGetValue(l.Key, out var v) && v == l.Value));

    /// <summary>The sum of the series of <paramref name="name"/> that have all <paramref name="labels"/>.</summary>
    private static double Sample(List<MetricSample> samples, string name, params (string Key, string Value)[] labels) =>
        Series(samples, name, labels).Sum(s => s.Value);

    private static double Delta(List<MetricSample> before, List<MetricSample> after, string name, params (string Key, string Value)[] labels) =>
        Sample(after, name, labels) - Sample(before, name, labels);

    /// <summary>Prometheus text format: <c>name{a="b",c="d"} value [timestamp]</c>; comments skipped.</summary>
    internal static IEnumerable<MetricSample> Parse(string text)
    {
        foreach (var line in text.Split('\n'))
        {
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }
            var match = SampleLine().Match(line);
            Assert.True(match.Success, $"not a Prometheus sample line: {line}");
            var labels = LabelPair().Matches(match.Groups["labels"].Value)
                .ToDictionary(m => m.Groups["key"].Value, m => m.Groups["value"].Value, StringComparer.Ordinal);
            yield return new MetricSample(match.Groups["name"].Value, labels, double.Parse(match.Groups["value"].Value, CultureInfo.InvariantCulture));
        }
    }

    [GeneratedRegex("""^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?<labels>.*)\})? (?<value>[^ ]+)( [0-9]+)?$""")]
    private static partial Regex SampleLine();

    [GeneratedRegex("""(?<key>[a-zA-Z_][a-zA-Z0-9_]*)="(?<value>(\\.|[^"\\])*)",?""")]
    private static partial Regex LabelPair();
}

internal sealed record MetricSample(string Name, IReadOnlyDictionary<string, string> Labels, double Value);

/// <summary>A host with the API key set, spans exported to a list, and JSON logs on the console.</summary>
public sealed class TelemetryFixture : IAsyncLifetime
{
    private readonly List<Activity> _spans = [];

    public BatchyardTestHost Host { get; private set; } = null!;

    public IReadOnlyList<Activity> Spans
    {
        get
        {
            lock (_spans)
            {
                return [.. _spans];
            }
        }
    }

    public async Task InitializeAsync() => Host = await BatchyardTestHost.StartAsync(
        new Dictionary<string, string?> { ["Batchyard:ApiKey"] = BatchyardTestHost.ApiKey },
        services: services => services.ConfigureOpenTelemetryTracerProvider(tracing => tracing.AddInMemoryExporter(new LockedList(_spans))));

    public async Task<Activity> WaitForSpanAsync(Func<Activity, bool> match)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        while (true)
        {
            if (Spans.FirstOrDefault(match) is { } span)
            {
                return span;
            }
            await Task.Delay(50, cts.Token);
        }
    }

    public async Task DisposeAsync() => await Host.DisposeAsync();

    /// <summary>The in-memory exporter adds from whichever thread ends a span.</summary>
    private sealed class LockedList(List<Activity> inner) : ICollection<Activity>
    {
        public int Count
        {
            get
            {
                lock (inner)
                {
                    return inner.Count;
                }
            }
        }

        public bool IsReadOnly => false;

        public void Add(Activity item)
        {
            lock (inner)
            {
                inner.Add(item);
            }
        }

        public void Clear()
        {
            lock (inner)
            {
                inner.Clear();
            }
        }

        public bool Contains(Activity item)
        {
            lock (inner)
            {
                return inner.Contains(item);
            }
        }

        public void CopyTo(Activity[] array, int arrayIndex)
        {
            lock (inner)
            {
                inner.CopyTo(array, arrayIndex);
            }
        }

        public bool Remove(Activity item)
        {
            lock (inner)
            {
                return inner.Remove(item);
            }
        }

        public IEnumerator<Activity> GetEnumerator()
        {
            lock (inner)
            {
                return inner.ToList().GetEnumerator();
            }
        }

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
    }
}

/// <summary>Runs alone: meters and span sources are process-wide, so no other host may run tasks meanwhile.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TelemetryCollection : ICollectionFixture<TelemetryFixture>
{
    public const string Name = "telemetry";
}

/// <summary>
/// <c>Batchyard:Telemetry:MetricsKey</c>: <c>/metrics</c> needs that key, and only that one. Not in the telemetry
/// collection: a host that stops disposes its meters, which ends the series that another live host's exporter
/// shares with them (same meter name); parallel collections all end before the telemetry one starts.
/// </summary>
public sealed class MetricsKeyTests
{
    private const string MetricsKey = "scrape-key-51d0e2";

    [Fact]
    public async Task Metrics_WithAMetricsKey_NeedIt()
    {
        await using var host = await BatchyardTestHost.StartAsync(new Dictionary<string, string?>
        {
            ["Batchyard:ApiKey"] = BatchyardTestHost.ApiKey,
            ["Batchyard:Telemetry:MetricsKey"] = MetricsKey,
        });

        using (var none = host.Http(null))
        {
            using var refused = await none.GetAsync("/metrics");
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
            Assert.Equal("application/problem+json", refused.Content.Headers.ContentType?.MediaType);
            Assert.Equal(HttpStatusCode.OK, (await none.GetAsync("/healthz")).StatusCode);
        }
        using (var apiKey = host.Http(BatchyardTestHost.ApiKey))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, (await apiKey.GetAsync("/metrics")).StatusCode);
        }
        using var scraper = host.Http(MetricsKey);
        using var response = await scraper.GetAsync("/metrics");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("batchyard_local_memory_capacity_bytes", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }
}
