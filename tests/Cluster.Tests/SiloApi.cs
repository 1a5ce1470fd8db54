using System.Globalization;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace Batchyard.Cluster.Tests;

/// <summary>The bits of the HTTP API the cluster tests drive, read as JSON elements.</summary>
public sealed class SiloApi(Uri baseAddress)
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(30) };

    public async Task<bool> IsReadyAsync()
    {
        try
        {
            using var response = await Http.GetAsync(new Uri(baseAddress, "/readyz"));
            return response.IsSuccessStatusCode;
        }
        catch (HttpRequestException)
        {
            return false;
        }
        catch (TaskCanceledException)
        {
            return false;
        }
    }

    public async Task PutDagAsync(string dagId, string yaml)
    {
        using var content = new StringContent(yaml, Encoding.UTF8, "application/yaml");
        using var response = await Http.PutAsync(new Uri(baseAddress, $"/api/v1/dags/{dagId}"), content);
        await EnsureAsync(response);
    }

    public async Task<string> TriggerAsync(string dagId, DateTimeOffset? logicalDate = null, IReadOnlyDictionary<string, string>? parameters = null)
    {
        var body = new Dictionary<string, object>();
        if (logicalDate is { } date)
        {
            body["logical_date"] = date.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);
        }
        if (parameters is not null)
        {
            body["params"] = parameters;
        }
        using var response = await Http.PostAsJsonAsync(new Uri(baseAddress, $"/api/v1/dags/{dagId}/runs"), body);
        await EnsureAsync(response);
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return document.RootElement.GetProperty("runId").GetString()!;
    }

    public async Task<JsonElement> GetRunAsync(string dagId, string runId)
    {
        using var response = await Http.GetAsync(new Uri(baseAddress, $"/api/v1/dags/{dagId}/runs/{Uri.EscapeDataString(runId)}"));
        await EnsureAsync(response);
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
    }

    public async Task<List<JsonElement>> ListRunsAsync(string dagId, int limit, string? state = null, string? before = null)
    {
        var query = $"?limit={limit}" + (state is null ? "" : $"&state={state}") + (before is null ? "" : $"&before={Uri.EscapeDataString(before)}");
        using var response = await Http.GetAsync(new Uri(baseAddress, $"/api/v1/dags/{dagId}/runs{query}"));
        await EnsureAsync(response);
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return [.. document.RootElement.EnumerateArray().Select(e => e.Clone())];
    }

    /// <summary>A GET as it is answered, whatever its status (the caller disposes the response).</summary>
    public Task<HttpResponseMessage> GetAsync(string pathAndQuery, CancellationToken cancellationToken = default) =>
        Http.GetAsync(new Uri(baseAddress, pathAndQuery), cancellationToken);

    private static async Task EnsureAsync(HttpResponseMessage response)
    {
        if (!response.IsSuccessStatusCode)
        {
            throw new HttpRequestException($"{response.RequestMessage?.Method} {response.RequestMessage?.RequestUri}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        }
    }
}

/// <summary>Bounded waits on conditions (never a fixed sleep standing in for one).</summary>
public static class Wait
{
    public static async Task UntilAsync(Func<Task<bool>> condition, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            try
            {
                if (await condition())
                {
                    return;
                }
            }
            catch (HttpRequestException) when (DateTime.UtcNow < deadline)
            {
                // A silo that is failing over may refuse a request or two.
            }
            if (DateTime.UtcNow >= deadline)
            {
                throw new TimeoutException($"timed out after {timeout} waiting for {what}");
            }
            await Task.Delay(250);
        }
    }
}

/// <summary>Reads a run's JSON.</summary>
public static class Runs
{
    public static string State(this JsonElement run) => run.GetProperty("state").GetString()!;

    public static bool IsFinal(this JsonElement run) => run.State() is "succeeded" or "failed" or "cancelled";

    public static IEnumerable<JsonElement> Tasks(this JsonElement run) => run.GetProperty("tasks").EnumerateArray();

    public static IEnumerable<JsonElement> Attempts(this JsonElement task) => task.GetProperty("attempts").EnumerateArray();

    public static DateTimeOffset? Time(this JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String
            ? DateTimeOffset.Parse(value.GetString()!, CultureInfo.InvariantCulture)
            : null;
}
