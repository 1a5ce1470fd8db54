using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Batchyard.Cli;

/// <summary>The server refused a call: its problem+json title, detail and (for a refused DAG) every problem.</summary>
internal sealed class ApiException(HttpStatusCode status, string title, string? detail, IReadOnlyList<string> errors)
    : Exception(detail is null ? title : $"{title}: {detail}")
{
    public HttpStatusCode Status { get; } = status;
    public string Title { get; } = title;
    public string? Detail { get; } = detail;
    public IReadOnlyList<string> Errors { get; } = errors;
}

/// <summary>The Batchyard HTTP API (<c>/api/v1</c>) as JSON documents; errors become <see cref="ApiException"/>.</summary>
internal sealed class ApiClient(HttpClient http) : IDisposable
{
    /// <summary>
    /// A client of <paramref name="server"/> that rides out its unavailability for up to <paramref name="retryFor"/>
    /// per call (saying so on <paramref name="error"/>); <paramref name="handler"/> replaces the network in tests.
    /// </summary>
    public static ApiClient Create(string server, string? token, TextWriter error, TimeSpan retryFor, HttpMessageHandler? handler = null)
    {
        var retry = new RetryWhileUnavailable(error, retryFor, TimeProvider.System) { InnerHandler = handler ?? new SocketsHttpHandler() };
        var http = new HttpClient(retry, disposeHandler: handler is null);
        http.BaseAddress = new Uri(server.TrimEnd('/') + "/");
        http.Timeout = TimeSpan.FromSeconds(100);
        if (!string.IsNullOrEmpty(token))
        {
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }
        return new ApiClient(http);
    }

    public Uri Server => http.BaseAddress!;

    public async Task<JsonElement> GetAsync(string path, CancellationToken cancellationToken) =>
        (await SendAsync(HttpMethod.Get, path, null, cancellationToken)).Body;

    /// <summary>
    /// Every item of a paged list (<paramref name="path"/> without <c>limit</c> or <c>cursor</c>), asked for
    /// <paramref name="pageSize"/> at a time and following each answer's <c>X-Next-Cursor</c>, up to <paramref name="max"/> items.
    /// </summary>
    public async Task<List<JsonElement>> GetAllAsync(string path, int pageSize, int? max, CancellationToken cancellationToken)
    {
        var items = new List<JsonElement>();
        string? cursor = null;
        var separator = path.Contains('?', StringComparison.Ordinal) ? '&' : '?';
        do
        {
            var size = max is { } m ? Math.Min(pageSize, m - items.Count) : pageSize;
            var page = $"{path}{separator}limit={size.ToString(System.Globalization.CultureInfo.InvariantCulture)}"
                + (cursor is null ? "" : "&cursor=" + Uri.EscapeDataString(cursor));
            var (body, next) = await SendAsync(HttpMethod.Get, page, null, cancellationToken);
            items.AddRange(body.Items());
            cursor = next;
        }
        while (cursor is not null && (max is null || items.Count < max));
        return items;
    }

    public async Task<JsonElement> PostAsync(string path, object? body, CancellationToken cancellationToken) =>
        (await SendAsync(HttpMethod.Post, path, body is null ? null : JsonContent(body), cancellationToken)).Body;

    public async Task<JsonElement> PutYamlAsync(string path, string yaml, CancellationToken cancellationToken) =>
        (await SendAsync(HttpMethod.Put, path, new StringContent(yaml, Encoding.UTF8, "application/yaml"), cancellationToken)).Body;

    public async Task<JsonElement> DeleteAsync(string path, CancellationToken cancellationToken) =>
        (await SendAsync(HttpMethod.Delete, path, null, cancellationToken)).Body;

    public static string Segment(string value) => Uri.EscapeDataString(value);

    private static StringContent JsonContent(object body) =>
        new(JsonSerializer.Serialize(body), Encoding.UTF8, "application/json");

    /// <summary>The answer's JSON and, for a page of a list, the cursor of the next page (<c>X-Next-Cursor</c>).</summary>
    private async Task<(JsonElement Body, string? NextCursor)> SendAsync(HttpMethod method, string path, HttpContent? content, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(method, path.TrimStart('/')) { Content = content };
        using var response = await http.SendAsync(request, cancellationToken);
        var text = await response.Content.ReadAsStringAsync(cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            throw Problem(response.StatusCode, text);
        }
        var next = response.Headers.TryGetValues("X-Next-Cursor", out var values) ? values.FirstOrDefault() : null;
        if (string.IsNullOrWhiteSpace(text))
        {
            return (default, next);
        }
        using var document = JsonDocument.Parse(text);
        return (document.RootElement.Clone(), next);
    }

    private static ApiException Problem(HttpStatusCode status, string text)
    {
        try
        {
            using var document = JsonDocument.Parse(text);
            var root = document.RootElement;
            var title = root.Str("title") ?? $"HTTP {(int)status}";
            var errors = root.TryGetProperty("errors", out var list) && list.ValueKind == JsonValueKind.Array
                ? list.EnumerateArray().Select(e => e.ToString()).ToArray()
                : [];
            return new ApiException(status, title, root.Str("detail"), errors);
        }
        catch (JsonException)
        {
            return new ApiException(status, $"HTTP {(int)status} {status}", string.IsNullOrWhiteSpace(text) ? null : text.Trim(), []);
        }
    }

    public void Dispose() => http.Dispose();
}

internal static class JsonElementExtensions
{
    /// <summary>A member as text ("" for null/missing unless asked for null).</summary>
    public static string? Str(this JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null
            ? value.ValueKind == JsonValueKind.String ? value.GetString() : value.GetRawText()
            : null;

    public static IEnumerable<JsonElement> Items(this JsonElement element, string? name = null)
    {
        var list = name is null ? element : element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var v) ? v : default;
        return list.ValueKind == JsonValueKind.Array ? list.EnumerateArray() : [];
    }
}
