using System.Net;
using System.Text;
using Batchyard.Grains;
using Microsoft.Extensions.Configuration;

namespace Batchyard.Notifications;

/// <summary>What one attempt to deliver came to.</summary>
public enum SendOutcome
{
    Delivered,
    /// <summary>Worth trying again: a 5xx, 408, 429, a timeout or a connection failure.</summary>
    Retry,
    /// <summary>Trying again cannot help: another 4xx, or no notifier of that name.</summary>
    Permanent,
}

/// <summary>
/// Posts one notification to one notifier, <c>Batchyard:Notifiers:NAME:Url</c> (an HTTP endpoint that takes a JSON
/// POST, e.g. a Slack incoming webhook), with <c>X-Batchyard-Event-Id</c> so that a receiver can drop repeats.
/// </summary>
public sealed class NotificationSender(IConfiguration configuration, NotificationOptions options) : IDisposable
{
    public const string EventIdHeader = "X-Batchyard-Event-Id";
    private readonly HttpClient _http = new() { Timeout = options.RequestTimeout };

    public async Task<(SendOutcome Outcome, string? Error)> SendAsync(string notifier, NotificationRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var url = configuration[$"Batchyard:Notifiers:{notifier}:Url"];
        if (string.IsNullOrWhiteSpace(url) || !Uri.TryCreate(url, UriKind.Absolute, out var uri))
        {
            return (SendOutcome.Permanent, $"notifier '{notifier}' is not configured (Batchyard:Notifiers:{notifier}:Url)");
        }
        using var message = new HttpRequestMessage(HttpMethod.Post, uri)
        {
            Content = new StringContent(NotificationBody.Write(request, configuration["Batchyard:PublicUrl"]), Encoding.UTF8, "application/json"),
        };
        message.Headers.Add(EventIdHeader, request.EventId);
        try
        {
            using var response = await _http.SendAsync(message, cancellationToken);
            if (response.IsSuccessStatusCode)
            {
                return (SendOutcome.Delivered, null);
            }
            var status = (int)response.StatusCode;
            var error = $"HTTP {status}";
            return status is >= 400 and < 500 && response.StatusCode is not (HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests)
                ? (SendOutcome.Permanent, error)
                : (SendOutcome.Retry, error);
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            return (SendOutcome.Retry, ex is TaskCanceledException ? $"no answer within {options.RequestTimeout.TotalSeconds:0.#} s" : ex.Message);
        }
    }

    public void Dispose() => _http.Dispose();
}
