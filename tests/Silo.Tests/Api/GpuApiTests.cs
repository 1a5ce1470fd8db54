using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace Batchyard.Tests.Api;

/// <summary>GPUs of the local backend seen from outside: a host configured with two, a DAG of three one-GPU tasks.</summary>
public sealed class GpuApiTests
{
    private static string ThreeGpuTasks(string dagId, string release) => $$"""
        id: {{dagId}}
        defaults:
          backend: local
          resources: { memory_mb: 64, gpus: 1 }
          command: [sh, -c, 'echo "cuda=$CUDA_VISIBLE_DEVICES nvidia=$NVIDIA_VISIBLE_DEVICES"; while [ ! -e "{{release}}" ]; do sleep 0.05; done']
        tasks: { a: {}, b: {}, c: {} }
        """;

    [Fact]
    public async Task ThreeOneGpuTasksOnTwoGpus_TheThirdWaitsWithAReason_ReadyzShowsTheHolders_AllSucceedOnTheirOwnGpu()
    {
        var release = Path.Combine(Path.GetTempPath(), $"batchyard-gpu-release-{Guid.NewGuid():N}");
        await using var host = await BatchyardTestHost.StartAsync(new Dictionary<string, string?> { ["Batchyard:Local:Gpus"] = "0,1" });
        using var http = host.Http();
        await host.ApplyAsync("gpus", ThreeGpuTasks("gpus", release));

        var runId = await host.TriggerAsync("gpus");
        var waiting = await host.WaitForRunAsync("gpus", runId, r => Tasks(r).Count(t => t.State == "running") == 2 && Tasks(r).Any(t => t.State == "submitted" && t.Reason is not null));
        var ready = await http.GetFromJsonAsync<JsonElement>("/readyz");
        await File.WriteAllTextAsync(release, "");
        var ended = await host.WaitForRunEndAsync("gpus", runId);
        var seen = new Dictionary<string, string>();
        foreach (var task in new[] { "a", "b", "c" })
        {
            var log = await http.GetFromJsonAsync<JsonElement>($"/api/v1/dags/gpus/runs/{runId}/tasks/{task}/logs");
            seen[task] = log.GetProperty("text").GetString()!.Trim();
        }
        File.Delete(release);

        var queued = Tasks(waiting).Single(t => t.State == "submitted");
        Assert.Equal("waiting for 1 GPU: 0 of 2 free", queued.Reason);
        var facts = ready.GetProperty("backends").EnumerateArray().Single(b => b.GetProperty("backend").GetString() == "local")
            .GetProperty("facts").EnumerateArray().ToDictionary(f => f.GetProperty("name").GetString()!, f => f.GetProperty("value").GetString()!);
        Assert.Equal("2 / 2 (Batchyard:Local:Gpus)", facts["gpus in use"]);
        var running = Tasks(waiting).Where(t => t.State == "running").Select(t => t.TaskId).ToList();
        Assert.All(running, taskId => Assert.Contains($"/{taskId} attempt 1", facts["gpu 0"] + " | " + facts["gpu 1"], StringComparison.Ordinal));

        Assert.Equal("succeeded", ended.GetProperty("state").GetString());
        Assert.All(seen.Values, line => Assert.Matches("^cuda=([01]) nvidia=\\1$", line));
        Assert.NotEqual(seen[running[0]], seen[running[1]]);
        Assert.Contains(seen[queued.TaskId], new[] { seen[running[0]], seen[running[1]] });
    }

    [Fact]
    public async Task DagAskingForMoreGpusThanTheHostHas_IsRefusedWithFileAndLine()
    {
        await using var host = await BatchyardTestHost.StartAsync(new Dictionary<string, string?> { ["Batchyard:Local:Gpus"] = "0,1" });
        using var http = host.Http();

        using var response = await http.PutAsync("/api/v1/dags/big", new StringContent(
            "id: big\ntasks:\n  train:\n    backend: local\n    command: [true]\n    resources: { gpus: 3 }\n", Encoding.UTF8, "application/yaml"));
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = Assert.Single(problem.GetProperty("errors").EnumerateArray()).GetString();
        Assert.Matches(@"^[^:]+:6: task 'train': 3 GPUs is more than this host has: 2", error);
    }

    private sealed record TaskView(string TaskId, string State, string? Reason);

    private static List<TaskView> Tasks(JsonElement run) =>
    [
        .. run.GetProperty("tasks").EnumerateArray().Select(t =>
        {
            var attempts = t.GetProperty("attempts").EnumerateArray().ToList();
            var reason = attempts.Count == 0 ? null : attempts[^1].TryGetProperty("reason", out var r) && r.ValueKind == JsonValueKind.String ? r.GetString() : null;
            return new TaskView(t.GetProperty("taskId").GetString()!, t.GetProperty("state").GetString()!, reason);
        }),
    ];
}
