using System.Net.Http.Json;
using System.Text.Json;
using Batchyard.Testing;

namespace Batchyard.Tests.Api;

/// <summary>A deadline that passes while the run is still going reaches notify.on_late's webhook before the run ends.</summary>
public sealed class LateNotificationTests
{
    [Fact]
    public async Task ALateRun_NotifiesOnLateWhileItStillRuns_OnceWithItsEventId_AndItsStatusShowsItDelivered()
    {
        using var receiver = new WebhookReceiver();
        var release = Path.Combine(Path.GetTempPath(), "batchyard-late-" + Guid.NewGuid().ToString("N"));
        await using var host = await BatchyardTestHost.StartAsync(
            new Dictionary<string, string?> { ["Batchyard:Notifiers:pager:Url"] = receiver.Url("pager") },
            new Dictionary<string, string>
            {
                ["nightly-model.yaml"] = $$"""
                    deadline: { within: 1s, after: queued }
                    notify: { on_late: [pager] }
                    tasks:
                      train:
                        resources: { memory_mb: 32 }
                        command: [sh, -c, 'for i in $(seq 1 600); do [ -f "{{release}}" ] && break; sleep 0.1; done']
                    """,
            });
        using var http = host.Http(key: null);
        using var triggered = await http.PostAsync(new Uri("/api/v1/dags/nightly-model/runs", UriKind.Relative), null);
        var runId = (await triggered.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("runId").GetString()!;

        var hook = await receiver.NextAsync();
        // Received while the run is still running: the deadline warns, it does not wait for the end.
        var run = await http.GetFromJsonAsync<JsonElement>(new Uri($"/api/v1/dags/nightly-model/runs/{runId}", UriKind.Relative));
        Assert.Equal("running", run.GetProperty("state").GetString());
        Assert.True(run.GetProperty("late").GetBoolean());
        Assert.Equal("/hooks/pager", hook.Path);
        Assert.Equal($"nightly-model/{runId}/on_late", hook.EventId);
        Assert.Equal("on_late", hook.Body.GetProperty("event").GetString());
        Assert.Equal(runId, hook.Body.GetProperty("run_id").GetString());
        Assert.Contains("is late", hook.Body.GetProperty("text").GetString(), StringComparison.Ordinal);

        await File.WriteAllTextAsync(release, "");
        var done = await host.WaitForRunAsync("nightly-model", runId, r => r.GetProperty("state").GetString() == "succeeded");
        Assert.True(done.GetProperty("late").GetBoolean());
        Assert.False(await receiver.AnyWithinAsync(TimeSpan.FromSeconds(2)), "on_late is sent once");
        var status = await http.GetFromJsonAsync<JsonElement[]>(new Uri($"/api/v1/dags/nightly-model/runs/{runId}/notifications", UriKind.Relative));
        var row = Assert.Single(status!);
        Assert.Equal($"nightly-model/{runId}/on_late", row.GetProperty("eventId").GetString());
        Assert.Equal("delivered", row.GetProperty("state").GetString());
        File.Delete(release);
    }
}
