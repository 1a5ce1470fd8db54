using System.Collections.Immutable;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Batchyard.Grains;
using Batchyard.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Batchyard.Tests.Api;

/// <summary>notify.on_failure / on_success / on_retry reach the webhooks configured on the server, reliably.</summary>
public sealed class NotificationTests
{
    /// <summary>Retries come fast in tests: 100 ms, 200 ms, 400 ms…</summary>
    private static Dictionary<string, string?> Settings(WebhookReceiver receiver, params string[] notifiers)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Batchyard:Notifications:FirstRetryDelay"] = "00:00:00.1",
            ["Batchyard:Notifications:MaxRetryDelay"] = "00:00:01",
        };
        foreach (var name in notifiers)
        {
            settings[$"Batchyard:Notifiers:{name}:Url"] = receiver.Url(name);
        }
        return settings;
    }

    [Fact]
    public async Task FailedRun_PostsToItsOnFailureNotifier_AndASucceededRunToOnSuccess()
    {
        using var receiver = new WebhookReceiver();
        var settings = Settings(receiver, "team-slack", "audit");
        settings["Batchyard:PublicUrl"] = "https://batchyard.example.com/";
        await using var host = await BatchyardTestHost.StartAsync(settings,
            new Dictionary<string, string>
            {
                ["alerting.yaml"] = """
                    notify: { on_failure: [team-slack], on_success: [audit] }
                    tasks:
                      boom: { command: [sh, -c, 'exit 2'], resources: { memory_mb: 32 } }
                    """,
                ["fine.yaml"] = """
                    notify: { on_failure: [team-slack], on_success: [audit] }
                    tasks:
                      ok: { backend: noop }
                    """,
            });
        using var http = host.Http(key: null);

        var runId = await TriggerAsync(http, "alerting");
        var failure = await receiver.NextAsync();
        Assert.Equal("/hooks/team-slack", failure.Path);
        Assert.Equal($"alerting/{runId}/on_failure", failure.EventId);
        Assert.Equal("alerting", failure.Body.GetProperty("dag_id").GetString());
        Assert.Equal(runId, failure.Body.GetProperty("run_id").GetString());
        Assert.Equal("failed", failure.Body.GetProperty("state").GetString());
        Assert.Equal("on_failure", failure.Body.GetProperty("event").GetString());
        Assert.Equal(failure.EventId, failure.Body.GetProperty("event_id").GetString());
        Assert.Equal("boom", failure.Body.GetProperty("failed_tasks")[0].GetString());
        Assert.Contains("(failed: boom)", failure.Body.GetProperty("text").GetString(), StringComparison.Ordinal);
        var link = $"https://batchyard.example.com/dags/alerting/runs/{Uri.EscapeDataString(runId)}";
        var blocks = failure.Body.GetProperty("blocks");
        Assert.Contains($"<{link}|run>", blocks[0].GetProperty("text").GetProperty("text").GetString(), StringComparison.Ordinal);
        Assert.Equal(link, blocks[1].GetProperty("elements")[0].GetProperty("url").GetString());

        await TriggerAsync(http, "fine");
        var success = await receiver.NextAsync();
        Assert.Equal("/hooks/audit", success.Path);
        Assert.Equal("succeeded", success.Body.GetProperty("state").GetString());
    }

    [Fact]
    public async Task AReceiverFailingTwice_GetsTheNotificationOnce_WithOneEventIdOnEveryAttempt_AndTheRunShowsItDelivered()
    {
        using var receiver = new WebhookReceiver(500, 500);
        await using var host = await BatchyardTestHost.StartAsync(Settings(receiver, "team-slack"),
            new Dictionary<string, string>
            {
                ["flaky-hook.yaml"] = """
                    notify: { on_success: [team-slack] }
                    tasks:
                      ok: { backend: noop }
                    """,
            });
        using var http = host.Http(key: null);

        var runId = await TriggerAsync(http, "flaky-hook");
        var attempts = new[] { await receiver.NextAsync(), await receiver.NextAsync(), await receiver.NextAsync() };
        Assert.All(attempts, a => Assert.Equal($"flaky-hook/{runId}/on_success", a.EventId));

        var row = await WaitForDeliveryAsync(http, "flaky-hook", runId, "delivered");
        Assert.Equal($"flaky-hook/{runId}/on_success", row.GetProperty("eventId").GetString());
        Assert.Equal("on_success", row.GetProperty("event").GetString());
        Assert.Equal("team-slack", row.GetProperty("notifier").GetString());
        Assert.Equal(3, row.GetProperty("attempts").GetInt32());
        Assert.Equal("HTTP 500", row.GetProperty("lastError").GetString());
        Assert.Equal(JsonValueKind.String, row.GetProperty("deliveredAt").ValueKind);
        // Delivered is the end of it: no fourth POST.
        Assert.False(await receiver.AnyWithinAsync(TimeSpan.FromSeconds(2)));
    }

    [Fact]
    public async Task AReceiverAnswering404_IsMarkedFailed_AndNotTriedAgain()
    {
        using var receiver = new WebhookReceiver(404);
        await using var host = await BatchyardTestHost.StartAsync(Settings(receiver, "gone"),
            new Dictionary<string, string>
            {
                ["gone-hook.yaml"] = """
                    notify: { on_failure: [gone] }
                    tasks:
                      boom: { command: [sh, -c, 'exit 3'], resources: { memory_mb: 32 } }
                    """,
            });
        using var http = host.Http(key: null);

        var runId = await TriggerAsync(http, "gone-hook");
        Assert.Equal($"gone-hook/{runId}/on_failure", (await receiver.NextAsync()).EventId);
        var row = await WaitForDeliveryAsync(http, "gone-hook", runId, "failed");
        Assert.Equal(1, row.GetProperty("attempts").GetInt32());
        Assert.Equal("HTTP 404", row.GetProperty("lastError").GetString());
        // Retries would come after 100 ms, 200 ms, 400 ms…: none comes.
        Assert.False(await receiver.AnyWithinAsync(TimeSpan.FromSeconds(2)));
    }

    [Fact]
    public async Task TheSameEventSentTwice_IsDeliveredOnce()
    {
        using var receiver = new WebhookReceiver();
        await using var host = await BatchyardTestHost.StartAsync(Settings(receiver, "once"));
        var grains = host.Services.GetRequiredService<IGrainFactory>();
        var request = new NotificationRequest
        {
            EventId = "some-dag/2026-12/on_budget/80",
            Event = NotifyEvents.OnBudget,
            DagId = "some-dag",
            Notifiers = ["once"],
            Text = "Batchyard: some-dag passed 80 % of its budget",
            Facts = ImmutableDictionary<string, string>.Empty.Add("usd", "400.5"),
            At = DateTimeOffset.UtcNow,
        };
        var grain = grains.GetGrain<INotificationGrain>(request.EventId);

        await grain.SendAsync(request);
        await grain.SendAsync(request with { Text = "a second hand-over of the same fact" });

        var hook = await receiver.NextAsync();
        Assert.Equal(request.EventId, hook.EventId);
        Assert.Equal(request.Text, hook.Body.GetProperty("text").GetString());
        Assert.Equal(400.5m, hook.Body.GetProperty("usd").GetDecimal());
        Assert.False(await receiver.AnyWithinAsync(TimeSpan.FromSeconds(2)));
        var status = await grain.GetStatusAsync();
        Assert.Equal(DeliveryState.Delivered, Assert.Single(status!.Deliveries).State);
    }

    [Fact]
    public async Task AFailedAttemptThatWillBeRetried_NotifiesOnRetry_WithTheTaskAndAttemptInItsEventId()
    {
        using var receiver = new WebhookReceiver();
        await using var host = await BatchyardTestHost.StartAsync(Settings(receiver, "retries"),
            new Dictionary<string, string>
            {
                ["retrying.yaml"] = """
                    notify: { on_retry: [retries] }
                    defaults: { retries: 1, retry_delay: 500ms }
                    tasks:
                      boom: { command: [sh, -c, 'exit 4'], resources: { memory_mb: 32 } }
                    """,
            });
        using var http = host.Http(key: null);

        var runId = await TriggerAsync(http, "retrying");
        var hook = await receiver.NextAsync();
        Assert.Equal($"retrying/{runId}/boom/1/on_retry", hook.EventId);
        Assert.Equal("on_retry", hook.Body.GetProperty("event").GetString());
        Assert.Equal("boom", hook.Body.GetProperty("task_id").GetString());
        Assert.Equal(1, hook.Body.GetProperty("attempt").GetInt32());
        // The second attempt is the last: its failure is no retry.
        await host.WaitForRunEndAsync("retrying", runId);
        Assert.False(await receiver.AnyWithinAsync(TimeSpan.FromSeconds(1)));
    }

    [Fact]
    public async Task AHandOverThatFails_IsMadeAgainByTheRunsWakeReminder_UntilTheNotificationGrainTakesIt()
    {
        using var receiver = new WebhookReceiver();
        var settings = Settings(receiver, "team-slack");
        settings["Batchyard:WakePeriod"] = "00:00:01";
        var refusals = new RefuseFirstSends(1);
        await using var host = await BatchyardTestHost.StartAsync(settings,
            new Dictionary<string, string>
            {
                ["handed-again.yaml"] = """
                    notify: { on_success: [team-slack] }
                    tasks:
                      ok: { backend: noop }
                    """,
            },
            services => services.AddSingleton<IIncomingGrainCallFilter>(refusals));
        using var http = host.Http(key: null);

        var runId = await TriggerAsync(http, "handed-again");

        var hook = await receiver.NextAsync();
        Assert.Equal($"handed-again/{runId}/on_success", hook.EventId);
        // The first hand-over was refused: this delivery came from one made again.
        Assert.True(refusals.Calls >= 2, $"{refusals.Calls} hand-overs");
        var row = await WaitForDeliveryAsync(http, "handed-again", runId, "delivered");
        Assert.Equal(1, row.GetProperty("attempts").GetInt32());
    }

    /// <summary>Fails the first <paramref name="count"/> hand-overs to notification grains, as a silo dying mid-call would.</summary>
    private sealed class RefuseFirstSends(int count) : IIncomingGrainCallFilter
    {
        private int _calls;

        /// <summary>Hand-overs seen, the refused ones included.</summary>
        public int Calls => Volatile.Read(ref _calls);

        public Task Invoke(IIncomingGrainCallContext context)
        {
            if (context.InterfaceMethod?.Name == nameof(INotificationGrain.SendAsync) && Interlocked.Increment(ref _calls) <= count)
            {
                throw new TimeoutException("the notification grain's silo went away");
            }
            return context.Invoke();
        }
    }

    [Fact]
    public async Task NotificationsOfAnUnknownRun_Are404ProblemJson()
    {
        await using var host = await BatchyardTestHost.StartAsync(dagFiles: new Dictionary<string, string>
        {
            ["known.yaml"] = "tasks:\n  ok: { backend: noop }\n",
        });
        using var http = host.Http(key: null);

        using var response = await http.GetAsync(new Uri("/api/v1/dags/known/runs/no-such-run/notifications", UriKind.Relative));

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    private static async Task<string> TriggerAsync(HttpClient http, string dagId)
    {
        using var response = await http.PostAsync(new Uri($"/api/v1/dags/{dagId}/runs", UriKind.Relative), null);
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("runId").GetString()!;
    }

    /// <summary>Reads the run's notifications until its one delivery reaches <paramref name="state"/>.</summary>
    private static async Task<JsonElement> WaitForDeliveryAsync(HttpClient http, string dagId, string runId, string state)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        JsonElement rows = default;
        try
        {
            while (true)
            {
                rows = await http.GetFromJsonAsync<JsonElement>(new Uri($"/api/v1/dags/{dagId}/runs/{runId}/notifications", UriKind.Relative), cts.Token);
                if (rows.GetArrayLength() == 1 && rows[0].GetProperty("state").GetString() == state)
                {
                    return rows[0];
                }
                await Task.Delay(50, cts.Token);
            }
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"{dagId}/{runId}: no {state} delivery; last seen {rows}");
        }
    }
}
