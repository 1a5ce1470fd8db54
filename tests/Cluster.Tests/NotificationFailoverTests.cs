using System.Text.Json;
using Batchyard.Testing;
using Xunit.Abstractions;

namespace Batchyard.Cluster.Tests;

/// <summary>A notification that its silo could not deliver yet is delivered by the survivor once that silo is killed.</summary>
public sealed class NotificationFailoverTests(ITestOutputHelper output) : IAsyncLifetime
{
    private readonly SiloSet _silos = new("notify");

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync() => _silos.DisposeAsync().AsTask();

    [Fact]
    public async Task KillingTheSiloThatOwesANotification_TheSurvivorDeliversIt()
    {
        using var receiver = new WebhookReceiver { Always = 503 };
        var server = await TestPostgres.SharedAsync();
        var dags = Directory.CreateDirectory(Path.Combine(_silos.Folder, "dags")).FullName;
        var dagId = $"notified-{Guid.NewGuid().ToString("N")[..6]}";
        await File.WriteAllTextAsync(Path.Combine(dags, dagId + ".yaml"), """
            notify: { on_success: [hook] }
            tasks:
              ok: { backend: noop }
            """);
        var settings = SiloProcess.Settings(await server.CreateDatabaseAsync(), dags);
        settings["Batchyard__Notifiers__hook__Url"] = receiver.Url("hook");
        settings["Batchyard__Notifications__FirstRetryDelay"] = "00:00:01";
        settings["Batchyard__Notifications__MaxRetryDelay"] = "00:00:02";
        settings["Batchyard__Notifications__ReminderPeriod"] = "00:00:03";

        // Alone, the first silo hosts the run and its notification; the receiver refuses it for now.
        var first = _silos.Start("first", settings);
        await first.WaitReadyAsync(TimeSpan.FromSeconds(120));
        var runId = await first.Api.TriggerAsync(dagId);
        var eventId = $"{dagId}/{runId}/on_success";
        Assert.Equal(eventId, (await receiver.NextAsync(TimeSpan.FromSeconds(30))).EventId);

        var second = _silos.Start("second", settings);
        await second.WaitReadyAsync(TimeSpan.FromSeconds(120));
        first.KillHard();
        await first.WaitExitAsync(TimeSpan.FromSeconds(10));
        var killedAt = DateTimeOffset.UtcNow;
        receiver.Drain();
        receiver.Always = null;

        // Only the survivor is left to post it: its reminder service takes over the dead silo's reminders.
        var delivered = await receiver.NextAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(eventId, delivered.EventId);
        Assert.Equal("succeeded", delivered.Body.GetProperty("state").GetString());
        output.WriteLine($"FIGURE kill -9 -> notification delivered by the survivor: {(DateTimeOffset.UtcNow - killedAt).TotalSeconds:F1} s");

        JsonElement row = default;
        await Wait.UntilAsync(async () =>
        {
            using var response = await second.Api.GetAsync($"/api/v1/dags/{dagId}/runs/{Uri.EscapeDataString(runId)}/notifications");
            if (!response.IsSuccessStatusCode)
            {
                return false;
            }
            using var rows = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            row = rows.RootElement.EnumerateArray().Single().Clone();
            return row.GetProperty("state").GetString() == "delivered";
        }, TimeSpan.FromSeconds(20), "the notification to show delivered\n" + second.Tail());
        Assert.True(row.GetProperty("attempts").GetInt32() >= 2);
    }
}
