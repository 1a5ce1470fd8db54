using System.Net.Http.Json;
using System.Text.Json;

namespace Batchyard.Cluster.Tests;

/// <summary>In PostgreSQL mode attempt costs are kept in the cost projection: runs and the costs report outlive the silo that recorded them.</summary>
public sealed class CostDurabilityTests : IAsyncLifetime
{
    private readonly SiloSet _silos = new("costs");

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync() => _silos.DisposeAsync().AsTask();

    [Fact]
    public async Task AttemptCostsAndTheCostsReport_SurviveARestart()
    {
        var server = await TestPostgres.SharedAsync();
        var settings = SiloProcess.Settings(await server.CreateDatabaseAsync(), _silos.Folder);
        // At 3600 USD per cpu-hour a cpu-second costs a dollar: the local task's cost is its measured cpu time.
        settings["Batchyard__Local__CpuHourUsd"] = "3600";
        var dagId = $"durable-costs-{Guid.NewGuid().ToString("N")[..6]}";
        var yaml = $"""
            id: {dagId}
            owner: mlops
            tags: [recsys]
            tasks:
              burn:
                backend: local
                command: [sh, -c, 'i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done']
                resources: {"{"} memory_mb: 64 {"}"}
              report:
                backend: noop
                depends_on: burn
            """;

        var first = _silos.Start("first", settings);
        await first.WaitReadyAsync(TimeSpan.FromSeconds(180));
        await first.Api.PutDagAsync(dagId, yaml);
        var runId = await first.Api.TriggerAsync(dagId);
        JsonElement ran = default;
        await Wait.UntilAsync(async () => (ran = await first.Api.GetRunAsync(dagId, runId)).IsFinal(), TimeSpan.FromSeconds(90), "the run to end");
        first.Terminate();
        Assert.Equal(0, await first.WaitExitAsync(TimeSpan.FromSeconds(30)));

        var second = _silos.Start("second", settings);
        await second.WaitReadyAsync(TimeSpan.FromSeconds(180));
        var run = await second.Api.GetRunAsync(dagId, runId);
        var listed = (await second.Api.ListRunsAsync(dagId, 10)).Single();
        using var byType = await second.Api.GetAsync("api/v1/costs?group_by=instance_type");
        var types = (await byType.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("groups").EnumerateArray()
            .ToDictionary(g => g.GetProperty("key").GetString()!, g => g);
        using var byOwner = await second.Api.GetAsync("api/v1/costs?group_by=owner");
        var mlops = (await byOwner.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("groups").EnumerateArray()
            .Single(g => g.GetProperty("key").GetString() == "mlops");

        Assert.Equal("succeeded", ran.State());
        var burn = run.Tasks().Single(t => t.GetProperty("taskId").GetString() == "burn").Attempts().Single().GetProperty("cost");
        var cpuSeconds = burn.GetProperty("computeSeconds").GetDouble();
        Assert.True(cpuSeconds > 0, $"the local task's cpu time was not measured: {burn}");
        Assert.Equal(Math.Round((decimal)cpuSeconds, 6), burn.GetProperty("usd").GetDecimal());
        Assert.Equal(burn.GetProperty("usd").GetDecimal(), run.GetProperty("costUsd").GetDecimal());
        Assert.Equal(run.GetProperty("costUsd").GetDecimal(), listed.GetProperty("costUsd").GetDecimal());
        Assert.Equal(1, types["local"].GetProperty("attempts").GetInt32());
        Assert.Equal(1, types["noop"].GetProperty("attempts").GetInt32());
        Assert.Equal(burn.GetProperty("usd").GetDecimal(), mlops.GetProperty("usd").GetDecimal());
        Assert.Equal(2, mlops.GetProperty("attempts").GetInt32());
    }
}
