using System.Globalization;
using System.Net;

namespace Batchyard.Cli;

/// <summary>
/// Rides out a server that is failing over or restarting, so that <c>--wait</c>, <c>--follow</c> and one-off
/// reads go on by themselves: a read answered 502/503/504 is sent again after the answer's <c>Retry-After</c>,
/// and any call whose connection could not be made (so it never reached the server) after a second. Each retry
/// says so on stderr; past <paramref name="retryFor"/> from the first try, the last answer or error stands. A
/// write answered 503 is not sent again: the server may have done it before it failed.
/// </summary>
internal sealed class RetryWhileUnavailable(TextWriter error, TimeSpan retryFor, TimeProvider time) : DelegatingHandler
{
    private static readonly TimeSpan ConnectDelay = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan ShortestDelay = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan LongestDelay = TimeSpan.FromSeconds(10);

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var started = time.GetTimestamp();
        var server = request.RequestUri?.GetLeftPart(UriPartial.Authority);
        while (true)
        {
            TimeSpan delay;
            string why;
            try
            {
                var response = await base.SendAsync(request, cancellationToken);
                if (!IsRead(request) || response.StatusCode is not (HttpStatusCode.BadGateway or HttpStatusCode.ServiceUnavailable or HttpStatusCode.GatewayTimeout))
                {
                    return response;
                }
                delay = RetryAfter(response);
                if (time.GetElapsedTime(started) + delay > retryFor)
                {
                    return response;
                }
                why = $"{server} answered {(int)response.StatusCode} {response.ReasonPhrase}";
                response.Dispose();
            }
            catch (HttpRequestException ex) when (ex.HttpRequestError == HttpRequestError.ConnectionError || IsRead(request))
            {
                // No connection: the request was never sent, so even a write may go again. A read may also go
                // again when the connection broke under it (the silo serving it was killed).
                delay = ConnectDelay;
                if (time.GetElapsedTime(started) + delay > retryFor)
                {
                    throw;
                }
                why = $"{server}: {ex.Message}";
            }
            await error.WriteLineAsync($"batchyard: {why}; retrying in {delay.TotalSeconds.ToString("0.#", CultureInfo.InvariantCulture)} s");
            await Task.Delay(delay, time, cancellationToken);
        }
    }

    private static bool IsRead(HttpRequestMessage request) => request.Method == HttpMethod.Get || request.Method == HttpMethod.Head;

    /// <summary>The answer's Retry-After (seconds or a date), else a second; kept between a fifth of a second and ten seconds.</summary>
    private TimeSpan RetryAfter(HttpResponseMessage response)
    {
        var header = response.Headers.RetryAfter;
        var delay = header?.Delta ?? (header?.Date is { } date ? date - time.GetUtcNow() : ConnectDelay);
        return delay < ShortestDelay ? ShortestDelay : delay > LongestDelay ? LongestDelay : delay;
    }
}
