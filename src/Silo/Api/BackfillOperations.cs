using System.Collections.Immutable;
using Batchyard.Access;
using Batchyard.Backfills;
using Batchyard.Grains;
using Batchyard.History;

namespace Batchyard.Silo.Api;

/// <summary>Backfills: created, listed, read and cancelled with the role and audit trail of triggering a run.</summary>
public sealed partial class ApiOperations
{
    /// <summary>Backfills listed without a limit: the newest 25.</summary>
    public const int DefaultBackfillPage = 25;

    public async Task<Outcome<BackfillInfo>> CreateBackfillAsync(Caller caller, string dagId, BackfillRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        string? backfillId = null;
        return await Audited<BackfillInfo>(caller, Permission.Operate, AuditActions.Backfill, dagId, () => backfillId, null, async () =>
        {
            var dag = grains.GetGrain<IDagGrain>(dagId);
            if (await dag.GetAsync() is not { Definition: { } definition } info || !caller.SeesDag(info))
            {
                return DagNotFound(caller, dagId);
            }
            if (BackfillSlots.Check(definition, request, out _) is { } problem)
            {
                return Failure.BadRequest("Invalid backfill", problem);
            }
            try
            {
                var backfill = await dag.CreateBackfillAsync(request with { CreatedBy = caller.Name });
                backfillId = backfill.BackfillId;
                return backfill;
            }
            catch (ArgumentException ex)
            {
                // The DAG changed between the check and the call.
                return Failure.BadRequest("Invalid backfill", ex.Message);
            }
        }, _ => StatusCodes.Status201Created);
    }

    /// <summary>A DAG's backfills, newest first, <paramref name="limit"/> (25 by default) after <paramref name="cursor"/>.</summary>
    public async Task<Outcome<Page<BackfillInfo>>> ListBackfillsAsync(Caller caller, string dagId, int? limit, string? cursor, CancellationToken cancellationToken = default)
    {
        if (Cursors.CheckLimit(limit) is { } badLimit)
        {
            return badLimit;
        }
        string? after = null;
        if (!string.IsNullOrEmpty(cursor) && !Cursors.TryReadBackfill(cursor, out after))
        {
            return Cursors.InvalidCursor();
        }
        return await Read<Outcome<Page<BackfillInfo>>>(async () =>
        {
            var dag = grains.GetGrain<IDagGrain>(dagId);
            if (await dag.GetAsync() is not { } info || !caller.SeesDag(info))
            {
                return DagNotFound(caller, dagId);
            }
            var ids = await dag.ListBackfillsAsync();
            var start = after is null ? 0 : ids.IndexOf(after) + 1;
            var size = limit ?? DefaultBackfillPage;
            var pageIds = ids.Skip(start).Take(size).ToList();
            var items = await Task.WhenAll(pageIds.Select(id => Backfill(dagId, id).GetAsync()));
            var next = start + pageIds.Count < ids.Length && pageIds.Count > 0 ? Cursors.AfterBackfill(pageIds[^1]) : null;
            return new Page<BackfillInfo>([.. items.OfType<BackfillInfo>()], next, ids.Length);
        }, cancellationToken);
    }

    public Task<Outcome<BackfillInfo>> GetBackfillAsync(Caller caller, string dagId, string backfillId, CancellationToken cancellationToken = default) =>
        Read<Outcome<BackfillInfo>>(async () =>
        {
            if (await HiddenAsync(caller, dagId, cancellationToken) is { } hidden)
            {
                return hidden;
            }
            return await Backfill(dagId, backfillId).GetAsync() is { } backfill ? backfill : BackfillNotFound(dagId, backfillId);
        }, cancellationToken);

    public Task<Outcome<BackfillInfo>> CancelBackfillAsync(Caller caller, string dagId, string backfillId) =>
        Audited<BackfillInfo>(caller, Permission.Operate, AuditActions.CancelBackfill, dagId, () => backfillId, null, async () =>
        {
            if (await HiddenAsync(caller, dagId, CancellationToken.None) is { } hidden)
            {
                return hidden;
            }
            var backfill = Backfill(dagId, backfillId);
            if (await backfill.GetAsync() is null)
            {
                return BackfillNotFound(dagId, backfillId);
            }
            return await backfill.CancelAsync();
        });

    private IBackfillGrain Backfill(string dagId, string backfillId) => grains.GetGrain<IBackfillGrain>(dagId + "/" + backfillId);

    private static Failure BackfillNotFound(string dagId, string backfillId) => Failure.NotFound($"DAG '{dagId}' has no backfill '{backfillId}'");
}
