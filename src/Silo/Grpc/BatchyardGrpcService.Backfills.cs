using Batchyard.Grains;
using Batchyard.Silo.Api;
using Grpc.Core;
using Microsoft.AspNetCore.RateLimiting;
using Proto = Batchyard.V1;

namespace Batchyard.Silo.Grpc;

/// <summary>Backfills and datasets over gRPC, through the operations (roles, audit, refusals) the HTTP routes use.</summary>
public sealed partial class BatchyardGrpcService
{
    [EnableRateLimiting(RateLimitOptions.WritesPolicy)]
    public override async Task<Proto.Backfill> CreateBackfill(Proto.CreateBackfillRequest request, ServerCallContext context)
    {
        var dagId = Required(request.DagId, "dag_id");
        var reprocess = BackfillReprocess.Missing;
        if (request.Reprocess.Length > 0 && !Json.TryParseEnum(request.Reprocess, out reprocess))
        {
            throw Invalid($"reprocess must be one of: missing, failed, all (got '{request.Reprocess}')");
        }
        if (request.HasMaxActiveRuns && request.MaxActiveRuns < 1)
        {
            throw Invalid("max_active_runs must be at least 1");
        }
        var backfill = new BackfillRequest
        {
            From = request.From?.ToDateTimeOffset() ?? throw Invalid("from is required"),
            To = request.To?.ToDateTimeOffset() ?? throw Invalid("to is required"),
            Reprocess = reprocess,
            MaxActiveRuns = request.HasMaxActiveRuns ? request.MaxActiveRuns : null,
            Backwards = request.Backwards,
        };
        return (await api.CreateBackfillAsync(Caller(context), dagId, backfill)).Unwrap().ToProto();
    }

    public override async Task<Proto.ListBackfillsResponse> ListBackfills(Proto.ListBackfillsRequest request, ServerCallContext context)
    {
        var page = (await api.ListBackfillsAsync(Caller(context), Required(request.DagId, "dag_id"), request.Limit == 0 ? null : request.Limit, request.Cursor, context.CancellationToken)).Unwrap();
        var response = new Proto.ListBackfillsResponse { NextCursor = page.NextCursor ?? "", Total = page.Total ?? page.Items.Length };
        response.Backfills.AddRange(page.Items.Select(b => b.ToProto()));
        return response;
    }

    public override async Task<Proto.Backfill> GetBackfill(Proto.GetBackfillRequest request, ServerCallContext context) =>
        (await api.GetBackfillAsync(Caller(context), Required(request.DagId, "dag_id"), Required(request.BackfillId, "backfill_id"), context.CancellationToken)).Unwrap().ToProto();

    [EnableRateLimiting(RateLimitOptions.WritesPolicy)]
    public override async Task<Proto.Backfill> CancelBackfill(Proto.CancelBackfillRequest request, ServerCallContext context) =>
        (await api.CancelBackfillAsync(Caller(context), Required(request.DagId, "dag_id"), Required(request.BackfillId, "backfill_id"))).Unwrap().ToProto();

    public override async Task<Proto.ListDatasetsResponse> ListDatasets(Proto.ListDatasetsRequest request, ServerCallContext context)
    {
        var page = (await datasets.ListAsync(request.Limit == 0 ? null : request.Limit, request.Cursor, context.CancellationToken)).Unwrap();
        var response = new Proto.ListDatasetsResponse { NextCursor = page.NextCursor ?? "" };
        response.Datasets.AddRange(page.Items.Select(d => d.ToProto()));
        return response;
    }

    public override async Task<Proto.Dataset> GetDataset(Proto.GetDatasetRequest request, ServerCallContext context) =>
        (await datasets.GetAsync(Required(request.Name, "name"), request.Limit == 0 ? null : request.Limit, request.Cursor, context.CancellationToken)).Unwrap().ToProto();

    [EnableRateLimiting(RateLimitOptions.WritesPolicy)]
    public override async Task<Proto.DatasetUpdate> EmitDatasetEvent(Proto.EmitDatasetEventRequest request, ServerCallContext context) =>
        (await datasets.EmitAsync(Caller(context), Required(request.Name, "name"), request.ExtraJson.Length == 0 ? null : request.ExtraJson)).Unwrap().ToProto();

    private static RpcException Invalid(string detail) => new(new Status(StatusCode.InvalidArgument, detail));
}
