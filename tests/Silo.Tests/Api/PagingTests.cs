using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace Batchyard.Tests.Api;

/// <summary>Paging and filters of the list endpoints over HTTP: cursors, order, counts, and the unpaged answer.</summary>
public sealed class PagingTests : IAsyncLifetime
{
    private BatchyardTestHost _host = null!;
    private HttpClient _http = null!;

    public async Task InitializeAsync()
    {
        _host = await BatchyardTestHost.StartAsync(new Dictionary<string, string?>
        {
            ["Batchyard:Pools:gpu"] = "2",
            ["Batchyard:Pools:cpu"] = "4",
            ["Batchyard:Pools:io"] = "1",
        });
        _http = _host.Http(key: null);
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _host.DisposeAsync();
    }

    private static string Dag(string dagId, string owner = "team-a", string tags = "[]", string description = "a DAG") => $$"""
        id: {{dagId}}
        description: {{description}}
        owner: {{owner}}
        tags: {{tags}}
        tasks:
          only:
            backend: noop
        """;

    private async Task ApplyAsync(string dagId, string yaml)
    {
        using var response = await _http.PutAsync(new Uri($"/api/v1/dags/{dagId}", UriKind.Relative), new StringContent(yaml, System.Text.Encoding.UTF8, "application/yaml"));
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
    }

    private async Task<(List<JsonElement> Items, string? Next, HttpResponseMessage Response)> GetPageAsync(string url)
    {
        var response = await _http.GetAsync(new Uri(url, UriKind.Relative));
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{url}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(JsonValueKind.Array, body.ValueKind);
        var next = response.Headers.TryGetValues("X-Next-Cursor", out var values) ? values.Single() : null;
        return ([.. body.EnumerateArray()], next, response);
    }

    private async Task<List<string>> AllIdsAsync(string query)
    {
        var (items, next, _) = await GetPageAsync("/api/v1/dags" + query);
        Assert.Null(next);
        return [.. items.Select(d => d.GetProperty("dagId").GetString()!)];
    }

    private static async Task AssertProblemAsync(HttpResponseMessage response, string title)
    {
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType!.MediaType);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(title, body.GetProperty("title").GetString());
    }

    [Fact]
    public async Task DagList_PagedWhileDagsAreAdded_ListsEveryDagOnceInIdOrderAndEnds()
    {
        var original = Enumerable.Range(0, 23).Select(i => $"p-{i * 10:D3}").ToList();
        foreach (var id in original)
        {
            await ApplyAsync(id, Dag(id));
        }

        var seen = new List<string>();
        var behind = new List<string>();
        var ahead = new List<string>();
        var url = "/api/v1/dags?limit=5";
        var pages = 0;
        while (true)
        {
            var (items, next, response) = await GetPageAsync(url);
            pages++;
            Assert.Equal(original.Count + behind.Count + ahead.Count, int.Parse(response.Headers.GetValues("X-Total-Count").Single(), System.Globalization.CultureInfo.InvariantCulture));
            seen.AddRange(items.Select(d => d.GetProperty("dagId").GetString()!));
            if (next is null)
            {
                Assert.False(response.Headers.Contains("Link"));
                break;
            }
            Assert.Equal($"/api/v1/dags?limit=5&cursor={next}", response.Headers.GetValues("Link").Single().Split(';')[0].Trim('<', '>'));
            // Between pages: one DAG sorts among those already read, one among those still to come.
            behind.Add($"p-000-{pages}");
            ahead.Add($"p-225-{pages}");
            await ApplyAsync(behind[^1], Dag(behind[^1]));
            await ApplyAsync(ahead[^1], Dag(ahead[^1]));
            url = $"/api/v1/dags?limit=5&cursor={Uri.EscapeDataString(next)}";
        }

        Assert.Equal(seen.Count, seen.Distinct().Count());
        Assert.Equal(seen.Order(StringComparer.Ordinal), seen);
        Assert.Equal([.. original, .. ahead], seen);
        Assert.True(pages >= 5, $"{pages} pages");
        Assert.Equal(original.Count + behind.Count + ahead.Count, (await AllIdsAsync("")).Count);
    }

    [Fact]
    public async Task DagList_WithoutLimitOrCursor_AnswersEveryDagAsABareArrayWithoutPagingHeaders()
    {
        for (var i = 0; i < 130; i++)
        {
            await ApplyAsync($"bulk-{i:D3}", Dag($"bulk-{i:D3}"));
        }

        var (items, next, response) = await GetPageAsync("/api/v1/dags");

        Assert.Null(next);
        Assert.False(response.Headers.Contains("Link"));
        Assert.Equal(130, items.Count);
        Assert.Equal(["dagId", "paused", "schedule", "timezone", "nextRunAt", "lastRunState", "description", "owner", "tags", "loadErrors"], items[0].EnumerateObject().Select(p => p.Name));
        var (firstPage, cursor, _) = await GetPageAsync("/api/v1/dags?cursor=");
        Assert.Equal(130, firstPage.Count);
        Assert.Null(cursor);
        var (defaultPage, more, paged) = await GetPageAsync($"/api/v1/dags?limit=100");
        Assert.Equal(100, defaultPage.Count);
        Assert.NotNull(more);
        Assert.Equal("130", paged.Headers.GetValues("X-Total-Count").Single());
        var (rest, end, _) = await GetPageAsync($"/api/v1/dags?cursor={more}");
        Assert.Equal(30, rest.Count);
        Assert.Null(end);
    }

    [Fact]
    public async Task DagList_Filters_AreAppliedOnTheServerAndCountedOverEveryPage()
    {
        await ApplyAsync("etl-orders", Dag("etl-orders", owner: "data", tags: "[etl, nightly]", description: "Loads the ORDERS table"));
        await ApplyAsync("etl-users", Dag("etl-users", owner: "data", tags: "[etl]"));
        await ApplyAsync("train-recs", Dag("train-recs", owner: "mlops", tags: "[recsys, nightly]", description: "recommendations"));
        await ApplyAsync("train-fraud", Dag("train-fraud", owner: "mlops", tags: "[fraud]"));
        await ApplyAsync("report", Dag("report", owner: "finance"));
        (await _http.PostAsync(new Uri("/api/v1/dags/train-fraud/pause", UriKind.Relative), null)).EnsureSuccessStatusCode();
        var runId = await _host.TriggerAsync("report");
        await _host.WaitForRunEndAsync("report", runId);
        await WaitUntilAsync(async () => (await AllIdsAsync("?state=succeeded")).Count == 1);

        Assert.Equal(["etl-orders", "etl-users"], await AllIdsAsync("?tag=etl"));
        Assert.Equal(["etl-orders", "train-recs"], await AllIdsAsync("?tag=nightly"));
        Assert.Equal(["train-fraud", "train-recs"], await AllIdsAsync("?owner=mlops"));
        Assert.Equal(["etl-orders"], await AllIdsAsync("?q=orders"));
        Assert.Equal(["etl-orders"], await AllIdsAsync("?q=ORDERS"));
        Assert.Equal(["etl-orders", "train-recs"], await AllIdsAsync("?q=Nightly"));
        Assert.Equal(["train-recs"], await AllIdsAsync("?q=MLOPS&paused=false"));
        Assert.Equal(["train-fraud"], await AllIdsAsync("?paused=true"));
        Assert.Equal(["report"], await AllIdsAsync("?state=succeeded"));
        Assert.Equal(["etl-orders", "etl-users", "train-fraud", "train-recs"], await AllIdsAsync("?state=none"));
        Assert.Empty(await AllIdsAsync("?state=failed"));
        Assert.Equal(["etl-users"], await AllIdsAsync("?tag=etl&q=users&owner=data&paused=false&state=none"));

        var (page, next, response) = await GetPageAsync("/api/v1/dags?owner=data&limit=1");
        Assert.Equal(["etl-orders"], page.Select(d => d.GetProperty("dagId").GetString()));
        Assert.Equal("2", response.Headers.GetValues("X-Total-Count").Single());
        var (second, end, _) = await GetPageAsync($"/api/v1/dags?owner=data&limit=1&cursor={next}");
        Assert.Equal(["etl-users"], second.Select(d => d.GetProperty("dagId").GetString()));
        Assert.Null(end);
    }

    [Fact]
    public async Task Lists_BadLimitCursorOrFilter_Answer400ProblemJson()
    {
        await ApplyAsync("bad-args", Dag("bad-args"));
        await ApplyAsync("bad-args-2", Dag("bad-args-2"));
        var (_, runsCursor, _) = await GetRunsCursorAsync();
        var (_, dagCursor, _) = await GetPageAsync("/api/v1/dags?limit=1");
        Assert.NotNull(dagCursor);

        await AssertProblemAsync(await _http.GetAsync(new Uri("/api/v1/dags?limit=0", UriKind.Relative)), "Invalid limit");
        await AssertProblemAsync(await _http.GetAsync(new Uri("/api/v1/dags?limit=1001", UriKind.Relative)), "Invalid limit");
        await AssertProblemAsync(await _http.GetAsync(new Uri("/api/v1/dags?cursor=not-a-cursor!", UriKind.Relative)), "Invalid cursor");
        await AssertProblemAsync(await _http.GetAsync(new Uri("/api/v1/dags?cursor=Zm9v", UriKind.Relative)), "Invalid cursor");
        await AssertProblemAsync(await _http.GetAsync(new Uri($"/api/v1/dags?cursor={runsCursor}", UriKind.Relative)), "Invalid cursor");
        await AssertProblemAsync(await _http.GetAsync(new Uri("/api/v1/dags?state=sleeping", UriKind.Relative)), "Invalid state");
        await AssertProblemAsync(await _http.GetAsync(new Uri("/api/v1/dags?paused=maybe", UriKind.Relative)), "Bad request");
        await AssertProblemAsync(await _http.GetAsync(new Uri("/api/v1/dags/bad-args/runs?cursor=Zm9v", UriKind.Relative)), "Invalid cursor");
        await AssertProblemAsync(await _http.GetAsync(new Uri("/api/v1/dags/bad-args/runs?limit=1001", UriKind.Relative)), "Invalid limit");
        await AssertProblemAsync(await _http.GetAsync(new Uri($"/api/v1/dags/bad-args/runs?cursor={dagCursor}", UriKind.Relative)), "Invalid cursor");
    }

    private async Task<(List<JsonElement> Items, string? Next, HttpResponseMessage Response)> GetRunsCursorAsync()
    {
        await TriggerAtAsync("bad-args", "2026-01-01T00:00:00Z");
        await TriggerAtAsync("bad-args", "2026-01-02T00:00:00Z");
        await WaitUntilAsync(async () => (await GetPageAsync("/api/v1/dags/bad-args/runs")).Items.Count == 2);
        var page = await GetPageAsync("/api/v1/dags/bad-args/runs?limit=1");
        Assert.NotNull(page.Next);
        return page;
    }

    [Fact]
    public async Task RunList_PagedWhileRunsAreAdded_ListsEveryRunOnceNewestFirstAndEnds()
    {
        await ApplyAsync("many-runs", Dag("many-runs"));
        // Three runs per logical date: the run id breaks the tie, and a page boundary falls inside a date.
        var original = new List<string>();
        for (var day = 1; day <= 6; day++)
        {
            for (var n = 0; n < 3; n++)
            {
                original.Add(await TriggerAtAsync("many-runs", $"2026-03-{day:D2}T00:00:00Z"));
            }
        }
        await WaitUntilAsync(async () => (await GetPageAsync("/api/v1/dags/many-runs/runs?limit=1000")).Items.Count == original.Count);

        var seen = new List<JsonElement>();
        var url = "/api/v1/dags/many-runs/runs?limit=4";
        var pages = 0;
        while (true)
        {
            var (items, next, _) = await GetPageAsync(url);
            pages++;
            seen.AddRange(items);
            if (next is null)
            {
                break;
            }
            // Between pages: a newer run (before the cursor) and one in the middle of the dates already passed.
            await TriggerAtAsync("many-runs", $"2026-04-{pages:D2}T00:00:00Z");
            await TriggerAtAsync("many-runs", "2026-03-06T00:00:00Z");
            url = $"/api/v1/dags/many-runs/runs?limit=4&cursor={Uri.EscapeDataString(next)}";
        }

        var ids = seen.Select(r => r.GetProperty("runId").GetString()!).ToList();
        Assert.Equal(ids.Count, ids.Distinct().Count());
        Assert.Empty(original.Except(ids));
        var keys = seen.Select(r => (Date: r.GetProperty("logicalDate").GetDateTimeOffset(), Id: r.GetProperty("runId").GetString()!)).ToList();
        Assert.Equal(keys.OrderByDescending(k => k.Date).ThenByDescending(k => k.Id, StringComparer.Ordinal), keys);
        Assert.True(pages >= 5, $"{pages} pages");

        var failedOnly = await GetPageAsync("/api/v1/dags/many-runs/runs?state=failed&limit=2");
        Assert.Empty(failedOnly.Items);
        Assert.Null(failedOnly.Next);
        var (unpaged, unpagedNext, _) = await GetPageAsync("/api/v1/dags/many-runs/runs");
        Assert.Equal(25, unpaged.Count);
        Assert.NotNull(unpagedNext);
    }

    [Fact]
    public async Task PoolList_Paged_ByNameUntilTheLastPage()
    {
        var (first, next, response) = await GetPageAsync("/api/v1/pools?limit=2");
        Assert.Equal(["cpu", "gpu"], first.Select(p => p.GetProperty("name").GetString()));
        Assert.Equal("3", response.Headers.GetValues("X-Total-Count").Single());
        var (second, end, _) = await GetPageAsync($"/api/v1/pools?limit=2&cursor={next}");
        Assert.Equal(["io"], second.Select(p => p.GetProperty("name").GetString()));
        Assert.Null(end);
        var (all, none, _) = await GetPageAsync("/api/v1/pools");
        Assert.Equal(["cpu", "gpu", "io"], all.Select(p => p.GetProperty("name").GetString()));
        Assert.Null(none);
        await ApplyAsync("x1", Dag("x1"));
        await ApplyAsync("x2", Dag("x2"));
        var (_, dagCursor, _) = await GetPageAsync("/api/v1/dags?limit=1");
        await AssertProblemAsync(await _http.GetAsync(new Uri($"/api/v1/pools?cursor={dagCursor}", UriKind.Relative)), "Invalid cursor");
    }

    private async Task<string> TriggerAtAsync(string dagId, string logicalDate)
    {
        using var response = await _http.PostAsJsonAsync($"/api/v1/dags/{dagId}/runs", new { logical_date = logicalDate });
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("runId").GetString()!;
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (!await condition())
        {
            await Task.Delay(50, timeout.Token);
        }
    }
}
