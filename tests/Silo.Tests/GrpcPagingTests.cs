using Batchyard.V1;
using Grpc.Core;

namespace Batchyard.Tests;

/// <summary>gRPC list calls page and filter as the HTTP API does (limit, cursor, next_cursor).</summary>
[Collection(HostCollection.Name)]
public sealed class GrpcPagingTests(HostFixture fixture)
{
    private readonly BatchyardService.BatchyardServiceClient _client = fixture.Grpc();

    private async Task ApplyAsync(string dagId, string tag, string owner, string description = "a DAG") =>
        await _client.ApplyDagAsync(new ApplyDagRequest
        {
            DagId = dagId,
            Source = $"id: {dagId}\ndescription: {description}\nowner: {owner}\ntags: [{tag}]\ntasks:\n  only:\n    backend: noop\n",
        });

    [Fact]
    public async Task ListDags_PagedByTag_ListsEveryDagOnceInIdOrderWhileDagsAreAdded()
    {
        var tag = HostFixture.NewDagId("g");
        var original = Enumerable.Range(0, 7).Select(i => $"{tag}-{i}").ToList();
        foreach (var id in original)
        {
            await ApplyAsync(id, tag, "grpc");
        }

        var seen = new List<string>();
        var added = new List<string>();
        var request = new ListDagsRequest { Tag = tag, Limit = 3 };
        while (true)
        {
            var page = await _client.ListDagsAsync(request);
            Assert.Equal(original.Count + added.Count, page.Total);
            seen.AddRange(page.Dags.Select(d => d.DagId));
            if (page.NextCursor.Length == 0)
            {
                break;
            }
            added.Add($"{tag}-9-{added.Count}");
            await ApplyAsync(added[^1], tag, "grpc");
            request = new ListDagsRequest { Tag = tag, Limit = 3, Cursor = page.NextCursor };
        }

        Assert.Equal([.. original, .. added], seen);
        var unpaged = await _client.ListDagsAsync(new ListDagsRequest { Tag = tag });
        Assert.Equal(seen, unpaged.Dags.Select(d => d.DagId));
        Assert.Empty(unpaged.NextCursor);
    }

    [Fact]
    public async Task ListDags_Filters_OwnerTextPausedAndState()
    {
        var tag = HostFixture.NewDagId("gf");
        await ApplyAsync($"{tag}-a", tag, "owner-a", "Scores the CHURN model");
        await ApplyAsync($"{tag}-b", tag, "owner-b");
        await ApplyAsync($"{tag}-c", tag, "owner-b");
        await _client.PauseDagAsync(new PauseDagRequest { DagId = $"{tag}-c" });

        async Task<string[]> Ids(ListDagsRequest request)
        {
            request.Tag = tag;
            return [.. (await _client.ListDagsAsync(request)).Dags.Select(d => d.DagId)];
        }

        Assert.Equal([$"{tag}-b", $"{tag}-c"], await Ids(new ListDagsRequest { Owner = "owner-b" }));
        Assert.Equal([$"{tag}-a"], await Ids(new ListDagsRequest { Q = "churn" }));
        Assert.Equal([$"{tag}-c"], await Ids(new ListDagsRequest { Paused = true }));
        Assert.Equal([$"{tag}-a", $"{tag}-b"], await Ids(new ListDagsRequest { Paused = false }));
        Assert.Equal([$"{tag}-a", $"{tag}-b", $"{tag}-c"], await Ids(new ListDagsRequest { State = "none" }));
        Assert.Empty(await Ids(new ListDagsRequest { State = "succeeded" }));
    }

    [Fact]
    public async Task ListRuns_Paged_NewestFirstUntilTheLastPage()
    {
        var dagId = HostFixture.NewDagId("grpc-runs");
        await ApplyAsync(dagId, dagId, "grpc");
        for (var day = 1; day <= 5; day++)
        {
            await _client.TriggerRunAsync(new TriggerRunRequest { DagId = dagId, LogicalDate = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(new DateTimeOffset(2026, 5, day, 0, 0, 0, TimeSpan.Zero)) });
        }
        using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
        {
            while ((await _client.ListRunsAsync(new ListRunsRequest { DagId = dagId })).Runs.Count < 5)
            {
                await Task.Delay(50, timeout.Token);
            }
        }

        var days = new List<int>();
        var request = new ListRunsRequest { DagId = dagId, Limit = 2 };
        var pages = 0;
        while (true)
        {
            var page = await _client.ListRunsAsync(request);
            pages++;
            days.AddRange(page.Runs.Select(r => r.LogicalDate.ToDateTimeOffset().Day));
            if (page.NextCursor.Length == 0)
            {
                break;
            }
            request = new ListRunsRequest { DagId = dagId, Limit = 2, Cursor = page.NextCursor };
        }

        Assert.Equal([5, 4, 3, 2, 1], days);
        Assert.Equal(3, pages);
    }

    [Fact]
    public async Task ListCalls_BadCursorOrLimit_AreInvalidArgument()
    {
        var bad = new Func<Task>[]
        {
            async () => await _client.ListDagsAsync(new ListDagsRequest { Cursor = "nonsense!" }),
            async () => await _client.ListDagsAsync(new ListDagsRequest { Limit = 5000 }),
            async () => await _client.ListDagsAsync(new ListDagsRequest { State = "sleeping" }),
            async () => await _client.ListRunsAsync(new ListRunsRequest { DagId = "any", Cursor = "Zm9v" }),
        };
        foreach (var call in bad)
        {
            Assert.Equal(StatusCode.InvalidArgument, (await Assert.ThrowsAsync<RpcException>(call)).StatusCode);
        }
    }
}
