using System.Collections.Immutable;
using Batchyard.Access;
using Batchyard.Events;
using Batchyard.Runs;
using Batchyard.Silo.Api;
using Grpc.Core;
using Microsoft.AspNetCore.RateLimiting;
using Proto = Batchyard.V1;

namespace Batchyard.Silo.Grpc;

/// <summary>
/// The <c>batchyard.v1</c> gRPC service: the HTTP API's operations through the same <see cref="ApiOperations"/>,
/// plus streams of a task's log and of a run's changes (backfills and datasets: <c>BatchyardGrpcService.Backfills.cs</c>).
/// </summary>
public sealed partial class BatchyardGrpcService(ApiOperations api, CostOperations costs, DatasetOperations datasets, RunEvents events, TimeProvider time) : Proto.BatchyardService.BatchyardServiceBase
{
    /// <summary>How often a followed log is read again, and a watched run re-read (its grain may live on another silo).</summary>
    internal static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(500);
    private static readonly TimeSpan RunPollInterval = TimeSpan.FromSeconds(2);

    public override async Task<Proto.ListDagsResponse> ListDags(Proto.ListDagsRequest request, ServerCallContext context)
    {
        var filters = new DagFilters(request.Tag, request.Owner, request.State, request.Q, request.HasPaused ? request.Paused : null);
        var page = (await api.ListDagsAsync(Caller(context), filters, request.Limit == 0 ? null : request.Limit, request.Cursor, context.CancellationToken)).Unwrap();
        var response = new Proto.ListDagsResponse { NextCursor = page.NextCursor ?? "", Total = page.Total ?? page.Items.Length };
        response.Dags.AddRange(page.Items.Select(d => d.ToProto()));
        return response;
    }

    public override async Task<Proto.Dag> GetDag(Proto.GetDagRequest request, ServerCallContext context) =>
        (await api.GetDagAsync(Caller(context), Required(request.DagId, "dag_id"), context.CancellationToken)).Unwrap().ToProto();

    [EnableRateLimiting(RateLimitOptions.WritesPolicy)]
    public override async Task<Proto.ApplyDagResponse> ApplyDag(Proto.ApplyDagRequest request, ServerCallContext context)
    {
        var (view, created) = (await api.ApplyDagAsync(Caller(context), Required(request.DagId, "dag_id"), request.Source)).Unwrap();
        return new Proto.ApplyDagResponse { Dag = view.ToProto(), Created = created };
    }

    [EnableRateLimiting(RateLimitOptions.WritesPolicy)]
    public override async Task<Proto.DeleteDagResponse> DeleteDag(Proto.DeleteDagRequest request, ServerCallContext context)
    {
        (await api.DeleteDagAsync(Caller(context), Required(request.DagId, "dag_id"))).Unwrap();
        return new Proto.DeleteDagResponse();
    }

    [EnableRateLimiting(RateLimitOptions.WritesPolicy)]
    public override async Task<Proto.DagSummary> PauseDag(Proto.PauseDagRequest request, ServerCallContext context) =>
        (await api.SetPausedAsync(Caller(context), Required(request.DagId, "dag_id"), true)).Unwrap().ToProto();

    [EnableRateLimiting(RateLimitOptions.WritesPolicy)]
    public override async Task<Proto.DagSummary> UnpauseDag(Proto.UnpauseDagRequest request, ServerCallContext context) =>
        (await api.SetPausedAsync(Caller(context), Required(request.DagId, "dag_id"), false)).Unwrap().ToProto();

    [EnableRateLimiting(RateLimitOptions.WritesPolicy)]
    public override async Task<Proto.Run> TriggerRun(Proto.TriggerRunRequest request, ServerCallContext context)
    {
        var trigger = new TriggerRequest
        {
            Params = request.Params.ToImmutableDictionary(),
            LogicalDate = request.LogicalDate?.ToDateTimeOffset(),
        };
        return (await api.TriggerAsync(Caller(context), Required(request.DagId, "dag_id"), trigger)).Unwrap().ToProto();
    }

    public override async Task<Proto.ListRunsResponse> ListRuns(Proto.ListRunsRequest request, ServerCallContext context)
    {
        var page = (await api.ListRunsAsync(
            Caller(context),
            Required(request.DagId, "dag_id"),
            request.State,
            request.Limit == 0 ? null : request.Limit,
            request.Before?.ToDateTimeOffset(),
            request.Cursor,
            context.CancellationToken)).Unwrap();
        var response = new Proto.ListRunsResponse { NextCursor = page.NextCursor ?? "" };
        response.Runs.AddRange(page.Items.Select(r => r.ToProto()));
        return response;
    }

    public override async Task<Proto.Run> GetRun(Proto.GetRunRequest request, ServerCallContext context) =>
        (await api.GetRunAsync(Caller(context), Required(request.DagId, "dag_id"), Required(request.RunId, "run_id"), context.CancellationToken)).Unwrap().ToProto();

    [EnableRateLimiting(RateLimitOptions.WritesPolicy)]
    public override async Task<Proto.Run> CancelRun(Proto.CancelRunRequest request, ServerCallContext context) =>
        (await api.CancelRunAsync(Caller(context), Required(request.DagId, "dag_id"), Required(request.RunId, "run_id"))).Unwrap().ToProto();

    [EnableRateLimiting(RateLimitOptions.WritesPolicy)]
    public override async Task<Proto.Run> ClearTask(Proto.ClearTaskRequest request, ServerCallContext context) =>
        (await api.ClearTaskAsync(Caller(context), Required(request.DagId, "dag_id"), Required(request.RunId, "run_id"), Required(request.TaskId, "task_id"), request.HasMapIndex ? request.MapIndex : null)).Unwrap().ToProto();

    public override async Task<Proto.TaskOutput> GetTaskOutput(Proto.GetTaskOutputRequest request, ServerCallContext context) =>
        new() { Json = (await api.ReadOutputAsync(Caller(context), Required(request.DagId, "dag_id"), Required(request.RunId, "run_id"), Required(request.TaskId, "task_id"), request.HasMapIndex ? request.MapIndex : null, context.CancellationToken)).Unwrap() };

    public override async Task StreamTaskLog(Proto.StreamTaskLogRequest request, IServerStreamWriter<Proto.LogChunk> responseStream, ServerCallContext context)
    {
        var dagId = Required(request.DagId, "dag_id");
        var runId = Required(request.RunId, "run_id");
        var taskId = Required(request.TaskId, "task_id");
        int? mapIndex = request.HasMapIndex ? request.MapIndex : null;
        int? attempt = request.Attempt == 0 ? null : request.Attempt;
        var cursor = request.Cursor;
        var first = true;
        var token = context.CancellationToken;
        while (true)
        {
            var outcome = await api.ReadLogAsync(Caller(context), dagId, runId, taskId, attempt, cursor, token, mapIndex);
            if (request.Follow && attempt is null && outcome.Failure?.Detail.EndsWith("has made no attempt yet", StringComparison.Ordinal) == true)
            {
                // Following a task that has not started yet: wait for its first attempt.
                await Task.Delay(PollInterval, time, token);
                continue;
            }
            var page = outcome.Unwrap();
            attempt = page.Attempt;
            cursor = page.Cursor;
            if (first || page.Text.Length > 0 || page.Complete)
            {
                await responseStream.WriteAsync(page.ToProto(), token);
            }
            first = false;
            if (page.Complete)
            {
                // Following without a chosen attempt goes on through the task's retries (each chunk names its attempt).
                if (request.Follow && request.Attempt == 0 && await NextAttemptAsync(Caller(context), dagId, runId, taskId, mapIndex, page.Attempt, token) is { } next)
                {
                    attempt = next;
                    cursor = "";
                    first = true;
                    continue;
                }
                return;
            }
            if (page.Text.Length > 0)
            {
                continue;
            }
            if (!request.Follow)
            {
                return;
            }
            await Task.Delay(PollInterval, time, token);
        }
    }

    /// <summary>Waits for the attempt after <paramref name="ended"/>; null once the task is done without one.</summary>
    private async Task<int?> NextAttemptAsync(Caller caller, string dagId, string runId, string taskId, int? mapIndex, int ended, CancellationToken token)
    {
        while (true)
        {
            var run = (await api.GetRunAsync(caller, dagId, runId, token)).Unwrap();
            if (run.Tasks.FirstOrDefault(t => t.TaskId == taskId && t.MapIndex == mapIndex) is not { } task)
            {
                return null;
            }
            if (task.Attempts.Length > ended)
            {
                return ended + 1;
            }
            if (task.State.IsFinal())
            {
                return null;
            }
            await Task.Delay(PollInterval, time, token);
        }
    }

    public override async Task WatchRun(Proto.WatchRunRequest request, IServerStreamWriter<Proto.Run> responseStream, ServerCallContext context)
    {
        var dagId = Required(request.DagId, "dag_id");
        var runId = Required(request.RunId, "run_id");
        var token = context.CancellationToken;

        // Subscribe before the first read so that no change between the two is missed.
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(token);
        var changes = events.SubscribeAsync(stop.Token).GetAsyncEnumerator(stop.Token);
        var next = changes.MoveNextAsync().AsTask();
        try
        {
            var run = (await api.GetRunAsync(Caller(context), dagId, runId, token)).Unwrap();
            await responseStream.WriteAsync(run.ToProto(), token);
            var sent = Fingerprint(run);

            while (!run.State.IsFinal())
            {
                var poll = Task.Delay(RunPollInterval, time, token);
                if (await Task.WhenAny(next, poll) == next)
                {
                    if (!await next)
                    {
                        return;
                    }
                    var changed = changes.Current;
                    next = changes.MoveNextAsync().AsTask();
                    if (changed.DagId != dagId || changed.RunId != runId)
                    {
                        continue;
                    }
                    run = changed;
                }
                else
                {
                    // Run grains publish on their own silo only: a run living elsewhere is followed by reading it.
                    run = (await api.GetRunAsync(Caller(context), dagId, runId, token)).Unwrap();
                }
                var fingerprint = Fingerprint(run);
                if (fingerprint != sent)
                {
                    await responseStream.WriteAsync(run.ToProto(), token);
                    sent = fingerprint;
                }
            }
        }
        finally
        {
            // An async iterator cannot be disposed while a MoveNext is pending: end that one first.
            await stop.CancelAsync();
            try
            {
                await next;
            }
            catch (OperationCanceledException)
            {
                // The subscription ended with the call.
            }
            await changes.DisposeAsync();
        }
    }

    public override async Task<Proto.ListAuditResponse> ListAudit(Proto.ListAuditRequest request, ServerCallContext context)
    {
        var entries = (await api.ListAuditAsync(Caller(context), request.Limit == 0 ? null : request.Limit, request.Before?.ToDateTimeOffset(), context.CancellationToken)).Unwrap();
        var response = new Proto.ListAuditResponse();
        response.Entries.AddRange(entries.Select(e => e.ToProto()));
        return response;
    }

    public override async Task<Proto.CostReport> GetCosts(Proto.GetCostsRequest request, ServerCallContext context) =>
        (await costs.GetCostsAsync(Caller(context), request.From, request.To, request.GroupBy, context.CancellationToken)).Unwrap().ToProto();

    /// <summary>The caller the authentication middleware found (gRPC calls pass through it like HTTP ones).</summary>
    private static Caller Caller(ServerCallContext context) => Hosting.ApiKeyAuthentication.CallerOf(context.GetHttpContext());

    private static string Fingerprint(RunDetails run) =>
        $"{run.State}|{string.Join(',', run.Tasks.Select(t => $"{t.TaskId}:{t.State}:{string.Join(';', t.Attempts.Select(a => a.State))}"))}";

    private static string Required(string value, string name) =>
        string.IsNullOrEmpty(value) ? throw new RpcException(new Status(StatusCode.InvalidArgument, $"{name} is required")) : value;
}
