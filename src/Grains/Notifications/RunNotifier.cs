using System.Net.Http.Json;
using System.Text.Json.Serialization;
using Batchyard.Runs;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

namespace Batchyard.Notifications;

/// <summary>What a notifier is told when a run ends.</summary>
public sealed record RunNotification(
    [property: JsonPropertyName("dag_id")] string DagId,
    [property: JsonPropertyName("run_id")] string RunId,
    [property: JsonPropertyName("state")] string State,
    [property: JsonPropertyName("logical_date")] DateTimeOffset LogicalDate,
    [property: JsonPropertyName("failed_tasks")] IReadOnlyList<string> FailedTasks,
    [property: JsonPropertyName("text")] string Text);

/// <summary>
/// Sends run outcomes to the notifiers a DAG names in <c>notify.on_failure</c> / <c>notify.on_success</c>.
/// A notifier is configured on the server as <c>Batchyard:Notifiers:NAME:Url</c> (an HTTP endpoint that
/// takes a JSON POST, e.g. a Slack incoming webhook: the body's <c>text</c> is what Slack shows).
/// Sending never blocks or fails a run; failures are logged and retried a few times.
/// </summary>
public sealed partial class RunNotifier(IConfiguration configuration, ILogger<RunNotifier> logger) : IDisposable
{
    private static readonly TimeSpan[] Backoff = [TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(30)];
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(10) };

    /// <summary>Sends in the background to every named notifier; returns the sends so tests can await them.</summary>
    public Task NotifyAsync(IEnumerable<string> notifiers, RunDetails run)
    {
        var failed = run.Tasks.Where(t => t.State.IsFailure()).Select(t => t.TaskId).ToList();
        var text = run.State == RunState.Succeeded
            ? $"Batchyard: {run.DagId} run {run.RunId} succeeded"
            : $"Batchyard: {run.DagId} run {run.RunId} {run.State.ToString().ToLowerInvariant()}" + (failed.Count > 0 ? $" (failed: {string.Join(", ", failed)})" : "");
        var notification = new RunNotification(run.DagId, run.RunId, run.State.ToString().ToLowerInvariant(), run.LogicalDate, failed, text);
        return Task.WhenAll(notifiers.Distinct(StringComparer.Ordinal).Select(name => Task.Run(() => SendAsync(name, notification))));
    }

    private async Task SendAsync(string name, RunNotification notification)
    {
        var url = configuration[$"Batchyard:Notifiers:{name}:Url"];
        if (string.IsNullOrWhiteSpace(url) || !Uri.TryCreate(url, UriKind.Absolute, out var uri))
        {
            LogNotConfigured(name, notification.DagId);
            return;
        }
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                using var response = await _http.PostAsJsonAsync(uri, notification);
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
                LogSendFailed(name, notification.DagId, notification.RunId, $"HTTP {(int)response.StatusCode}");
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
                LogSendFailed(name, notification.DagId, notification.RunId, ex.Message);
            }
            if (attempt >= Backoff.Length)
            {
                return;
            }
            await Task.Delay(Backoff[attempt]);
        }
    }

    public void Dispose() => _http.Dispose();

    [LoggerMessage(Level = LogLevel.Warning, Message = "{DagId}: notifier '{Name}' is not configured (Batchyard:Notifiers:{Name}:Url)")]
    private partial void LogNotConfigured(string name, string dagId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{DagId}/{RunId}: notifier '{Name}' failed: {Error}")]
    private partial void LogSendFailed(string name, string dagId, string runId, string error);
}
