using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Batchyard.History;
using Batchyard.Runs;
using Microsoft.Extensions.DependencyInjection;

namespace Batchyard.Tests.Api;

/// <summary>One host for the cost tests: two DAGs with owners and tags. Tests use months of their own, so they never see each other's costs.</summary>
public sealed class CostsHostFixture : IAsyncLifetime
{
    public BatchyardTestHost Host { get; private set; } = null!;

    public async Task InitializeAsync() => Host = await BatchyardTestHost.StartAsync(
        new Dictionary<string, string?> { ["Batchyard:ApiKey"] = BatchyardTestHost.ApiKey },
        new Dictionary<string, string>
        {
            ["recs.yaml"] = "id: recs\nowner: mlops\ntags: [recsys, shared]\ntasks:\n  only:\n    backend: noop\n",
            ["etl.yaml"] = "id: etl\nowner: data\ntags: [shared]\ntasks:\n  only:\n    backend: noop\n",
            ["slow.yaml"] = "id: slow\ntasks:\n  sleepy:\n    backend: local\n    command: [sleep, '300']\n    resources: { memory_mb: 32 }\n",
        });

    public Task DisposeAsync() => Host.DisposeAsync().AsTask();
}

/// <summary><c>GET /api/v1/costs</c> in memory mode: attempt costs on runs, grouping, ranges and refused parameters.</summary>
public sealed class CostsApiTests(CostsHostFixture fixture) : IClassFixture<CostsHostFixture>
{
    private BatchyardTestHost Host => fixture.Host;

    /// <summary>Writes ended attempts with costs straight into the journal, as run grains do when attempts end.</summary>
    private async Task RecordAsync(string dagId, string runId, params (DateTimeOffset EndedAt, string Type, decimal? Usd, double Seconds)[] attempts)
    {
        var journal = Host.Services.GetRequiredService<IRunJournal>();
        var events = attempts.Select((a, i) => new RunEvent
        {
            DagId = dagId,
            RunId = runId,
            Seq = i + 1,
            Kind = RunEventKinds.Task,
            At = a.EndedAt,
            TaskId = $"t{i}",
            Payload = RunFactJson.Write(new TaskFact(TaskState.Succeeded, 0, null, null, [], new AttemptDetails
            {
                Attempt = 1,
                State = AttemptState.Succeeded,
                QueuedAt = a.EndedAt.AddMinutes(-10),
                StartedAt = a.EndedAt.AddMinutes(-5),
                EndedAt = a.EndedAt,
                Cost = new AttemptCost { Usd = a.Usd, ComputeSeconds = a.Seconds, Basis = "test", InstanceType = a.Type },
            })),
        }).ToList();
        await journal.AppendAsync(events);
    }

    private static DateTimeOffset Nov(int day, int hour = 12) => new(2026, 11, day, hour, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task NoopRun_HasAZeroCostAttempt_AndCountsInThisMonthsReportByDefault()
    {
        var runId = await Host.TriggerAsync("etl");
        var run = await Host.WaitForRunEndAsync("etl", runId);
        using var http = Host.Http();

        var report = await http.GetFromJsonAsync<JsonElement>("/api/v1/costs");

        var cost = run.GetProperty("tasks")[0].GetProperty("attempts")[0].GetProperty("cost");
        Assert.Equal(0m, cost.GetProperty("usd").GetDecimal());
        Assert.Equal("noop", cost.GetProperty("basis").GetString());
        Assert.Equal(0m, run.GetProperty("costUsd").GetDecimal());
        Assert.Equal("dag", report.GetProperty("groupBy").GetString());
        var etl = report.GetProperty("groups").EnumerateArray().Single(g => g.GetProperty("key").GetString() == "etl");
        Assert.True(etl.GetProperty("attempts").GetInt32() >= 1);
        var listed = await http.GetFromJsonAsync<JsonElement[]>("/api/v1/dags/etl/runs");
        Assert.Equal(0m, listed!.Single(r => r.GetProperty("runId").GetString() == runId).GetProperty("costUsd").GetDecimal());
    }

    [Fact]
    public async Task Costs_AreGroupedByDagOwnerTagInstanceTypeAndDay_WithinTheRange()
    {
        await RecordAsync("recs", "r1", (Nov(3), "ml.g5.xlarge", 2.50m, 3600), (Nov(3, 13), "ml.m5.xlarge", 0.25m, 900));
        await RecordAsync("etl", "e1", (Nov(4), "local", 0.10m, 60), (Nov(4, 1), "ml.zz9.huge", null, 120));
        // Outside 2026-11-03 .. 2026-11-04 (whole days): not counted.
        await RecordAsync("recs", "r0", (Nov(2, 23), "ml.g5.xlarge", 100m, 1), (Nov(5, 0), "ml.g5.xlarge", 100m, 1));
        using var http = Host.Http();

        async Task<JsonElement> Report(string by) => await http.GetFromJsonAsync<JsonElement>($"/api/v1/costs?from=2026-11-03&to=2026-11-04&group_by={by}");
        static IEnumerable<(string?, decimal, int)> Groups(JsonElement report) =>
            report.GetProperty("groups").EnumerateArray().Select(g => (g.GetProperty("key").GetString(), g.GetProperty("usd").GetDecimal(), g.GetProperty("attempts").GetInt32()));

        var byDag = await Report("dag");
        Assert.Equal([("recs", 2.75m, 2), ("etl", 0.10m, 2)], Groups(byDag));
        var total = byDag.GetProperty("total");
        Assert.Equal(2.85m, total.GetProperty("usd").GetDecimal());
        Assert.Equal(4680, total.GetProperty("computeSeconds").GetDouble());
        Assert.Equal(1, total.GetProperty("unpricedAttempts").GetInt32());
        Assert.Equal("2026-11-03T00:00:00+00:00", byDag.GetProperty("from").GetDateTimeOffset().ToString("yyyy-MM-ddTHH:mm:sszzz", System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(new DateTimeOffset(2026, 11, 5, 0, 0, 0, TimeSpan.Zero), byDag.GetProperty("to").GetDateTimeOffset());
        Assert.Equal([("mlops", 2.75m, 2), ("data", 0.10m, 2)], Groups(await Report("owner")));
        Assert.Equal([("shared", 2.85m, 4), ("recsys", 2.75m, 2)], Groups(await Report("tag")));
        Assert.Equal([("ml.g5.xlarge", 2.50m, 1), ("ml.m5.xlarge", 0.25m, 1), ("local", 0.10m, 1), ("ml.zz9.huge", 0m, 1)], Groups(await Report("instance_type")));
        Assert.Equal([("2026-11-03", 2.75m, 2), ("2026-11-04", 0.10m, 2)], Groups(await Report("day")));
        var instant = await http.GetFromJsonAsync<JsonElement>("/api/v1/costs?from=2026-11-03T13:00:00Z&to=2026-11-04T01:30:00Z");
        Assert.Equal([("recs", 0.25m, 1), ("etl", 0m, 1)], Groups(instant));
    }

    [Fact]
    public async Task AttemptThatBatchyardCancelled_IsPricedOnceItsJobHasStopped()
    {
        var runId = await Host.TriggerAsync("slow");
        await Host.WaitForRunAsync("slow", runId, r => r.GetProperty("tasks")[0].GetProperty("state").GetString() == "running");
        using var http = Host.Http();

        using var cancel = await http.PostAsync($"/api/v1/dags/slow/runs/{runId}/cancel", null);
        var run = await Host.WaitForRunAsync("slow", runId, r =>
            r.GetProperty("tasks")[0].GetProperty("attempts")[0].GetProperty("cost").ValueKind == JsonValueKind.Object);

        Assert.True(cancel.IsSuccessStatusCode, await cancel.Content.ReadAsStringAsync());
        var attempt = run.GetProperty("tasks")[0].GetProperty("attempts")[0];
        Assert.Equal("cancelled", attempt.GetProperty("state").GetString());
        Assert.Equal("local", attempt.GetProperty("cost").GetProperty("instanceType").GetString());
        Assert.Equal("cancelled", run.GetProperty("state").GetString());
    }

    [Theory]
    [InlineData("group_by=week", "Invalid group_by")]
    [InlineData("from=yesterday", "Invalid from")]
    [InlineData("to=2026-13-40", "Invalid to")]
    [InlineData("from=2026-11-05&to=2026-11-01", "Invalid range")]
    public async Task BadParameters_Answer400ProblemJson(string query, string title)
    {
        using var http = Host.Http();

        using var response = await http.GetAsync($"/api/v1/costs?{query}");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(title, body.RootElement.GetProperty("title").GetString());
    }

    [Fact]
    public async Task GrpcGetCosts_AnswersTheSameReport()
    {
        await RecordAsync("recs", "g1", (new DateTimeOffset(2026, 10, 7, 8, 0, 0, TimeSpan.Zero), "ml.m5.xlarge", 0.50m, 1800));
        using var channel = Grpc.Net.Client.GrpcChannel.ForAddress(Host.GrpcUrl, new Grpc.Net.Client.GrpcChannelOptions
        {
            HttpHandler = new HostFixture.BearerHandler(BatchyardTestHost.ApiKey) { InnerHandler = new SocketsHttpHandler() },
            DisposeHttpClient = true,
        });
        var client = new V1.BatchyardService.BatchyardServiceClient(channel);

        var report = await client.GetCostsAsync(new V1.GetCostsRequest { From = "2026-10-07", To = "2026-10-07", GroupBy = "instance_type" });
        var refused = await Assert.ThrowsAsync<Grpc.Core.RpcException>(async () => await client.GetCostsAsync(new V1.GetCostsRequest { GroupBy = "week" }));

        Assert.Equal("ml.m5.xlarge", Assert.Single(report.Groups).Key);
        Assert.Equal(0.5, report.Total.Usd);
        Assert.Equal(1800, report.Total.ComputeSeconds);
        Assert.Equal(Grpc.Core.StatusCode.InvalidArgument, refused.StatusCode);
    }
}
