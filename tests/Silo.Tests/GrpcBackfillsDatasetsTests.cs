using Batchyard.Tests.Security;
using Batchyard.V1;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using static Batchyard.Tests.Security.RolesFixture;

namespace Batchyard.Tests;

/// <summary>Backfills and datasets over gRPC: the HTTP API's operations, roles and refusals.</summary>
public sealed class GrpcBackfillsDatasetsTests(RolesFixture fixture) : IClassFixture<RolesFixture>
{
    private static readonly Timestamp January1 = Timestamp.FromDateTimeOffset(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
    private static readonly Timestamp January4 = Timestamp.FromDateTimeOffset(new DateTimeOffset(2026, 1, 4, 0, 0, 0, TimeSpan.Zero));

    [Fact]
    public async Task Backfill_CreateListGetCancel_WithTheRolesOfHttp()
    {
        var dagId = HostFixture.NewDagId("grpc-bf");
        var ops = fixture.Grpc(Admin);
        var ci = fixture.Grpc(Operator);
        var wall = fixture.Grpc(Viewer);
        await ops.ApplyDagAsync(new ApplyDagRequest { DagId = dagId, Source = $"id: {dagId}\nschedule: \"0 0 * * *\"\ntasks:\n  only:\n    backend: noop\n" });

        var denied = await Assert.ThrowsAsync<RpcException>(async () => await wall.CreateBackfillAsync(new CreateBackfillRequest { DagId = dagId, From = January1, To = January4 }));
        Assert.Equal(StatusCode.PermissionDenied, denied.StatusCode);
        var backwards = await Assert.ThrowsAsync<RpcException>(async () => await ci.CreateBackfillAsync(new CreateBackfillRequest { DagId = dagId, From = January4, To = January1 }));
        Assert.Equal(StatusCode.InvalidArgument, backwards.StatusCode);
        Assert.Contains("is after to", backwards.Status.Detail, StringComparison.Ordinal);
        var mode = await Assert.ThrowsAsync<RpcException>(async () => await ci.CreateBackfillAsync(new CreateBackfillRequest { DagId = dagId, From = January1, To = January4, Reprocess = "some" }));
        Assert.Equal(StatusCode.InvalidArgument, mode.StatusCode);

        var created = await ci.CreateBackfillAsync(new CreateBackfillRequest { DagId = dagId, From = January1, To = January4, Reprocess = "all", MaxActiveRuns = 2 });
        Assert.Equal((4, "all", 2, "ci"), (created.Total, created.Reprocess, created.MaxActiveRuns, created.CreatedBy));

        var done = created;
        using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
        {
            while (done.State == "running")
            {
                await Task.Delay(100, timeout.Token);
                done = await wall.GetBackfillAsync(new GetBackfillRequest { DagId = dagId, BackfillId = created.BackfillId }, cancellationToken: timeout.Token);
            }
        }
        Assert.Equal(("succeeded", 4, 4, 0), (done.State, done.Created, done.Succeeded, done.Failed));
        Assert.NotNull(done.EndedAt);

        var second = await ci.CreateBackfillAsync(new CreateBackfillRequest { DagId = dagId, From = January1, To = January1 });
        var page = await wall.ListBackfillsAsync(new ListBackfillsRequest { DagId = dagId, Limit = 1 });
        Assert.Equal((second.BackfillId, 2), (Assert.Single(page.Backfills).BackfillId, page.Total));
        var rest = await wall.ListBackfillsAsync(new ListBackfillsRequest { DagId = dagId, Limit = 1, Cursor = page.NextCursor });
        Assert.Equal((created.BackfillId, ""), (Assert.Single(rest.Backfills).BackfillId, rest.NextCursor));

        // An ended backfill is answered as it is.
        var cancelled = await ci.CancelBackfillAsync(new CancelBackfillRequest { DagId = dagId, BackfillId = created.BackfillId });
        Assert.Equal("succeeded", cancelled.State);
        var missing = await Assert.ThrowsAsync<RpcException>(async () => await wall.GetBackfillAsync(new GetBackfillRequest { DagId = dagId, BackfillId = "nope" }));
        Assert.Equal(StatusCode.NotFound, missing.StatusCode);
    }

    [Fact]
    public async Task Datasets_EventListAndGet_WithTheRolesOfHttp()
    {
        var dagId = HostFixture.NewDagId("grpc-ds");
        var dataset = "grpc-" + dagId;
        var ops = fixture.Grpc(Admin);
        var ci = fixture.Grpc(Operator);
        var wall = fixture.Grpc(Viewer);
        await ops.ApplyDagAsync(new ApplyDagRequest { DagId = dagId, Source = $"id: {dagId}\non_datasets: [{dataset}]\ntasks:\n  only:\n    backend: noop\n" });

        var denied = await Assert.ThrowsAsync<RpcException>(async () => await wall.EmitDatasetEventAsync(new EmitDatasetEventRequest { Name = dataset }));
        Assert.Equal(StatusCode.PermissionDenied, denied.StatusCode);
        var notObject = await Assert.ThrowsAsync<RpcException>(async () => await ci.EmitDatasetEventAsync(new EmitDatasetEventRequest { Name = dataset, ExtraJson = "[1]" }));
        Assert.Equal(StatusCode.InvalidArgument, notObject.StatusCode);
        var first = await ci.EmitDatasetEventAsync(new EmitDatasetEventRequest { Name = dataset, ExtraJson = """{"file":"s3://bucket/a.csv"}""" });
        Assert.Equal((1L, "ci", ""), (first.Seq, first.PostedBy, first.DagId));
        Assert.Contains("s3://bucket/a.csv", first.ExtraJson, StringComparison.Ordinal);
        await ci.EmitDatasetEventAsync(new EmitDatasetEventRequest { Name = dataset });

        var list = await wall.ListDatasetsAsync(new ListDatasetsRequest());
        var row = Assert.Single(list.Datasets, d => d.Name == dataset);
        Assert.Equal([dagId], row.Consumers);
        Assert.Equal(2L, row.LastUpdate.Seq);
        Assert.NotEmpty(row.Warning);

        var view = await wall.GetDatasetAsync(new GetDatasetRequest { Name = dataset, Limit = 1 });
        Assert.Equal(2L, Assert.Single(view.Updates).Seq);
        var older = await wall.GetDatasetAsync(new GetDatasetRequest { Name = dataset, Limit = 1, Cursor = view.NextCursor });
        Assert.Equal((1L, ""), (Assert.Single(older.Updates).Seq, older.NextCursor));
        var unknown = await Assert.ThrowsAsync<RpcException>(async () => await wall.GetDatasetAsync(new GetDatasetRequest { Name = "never-named" }));
        Assert.Equal(StatusCode.NotFound, unknown.StatusCode);
    }
}
