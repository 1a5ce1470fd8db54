using Batchyard.Grains;

namespace Batchyard.Silo.Api;

/// <summary><c>/api/v1/pools</c>: the configured pools and quotas (<c>quota:TYPE</c>) with their slots, holders and line.</summary>
public static class PoolsApi
{
    public static RouteGroupBuilder MapPoolsApi(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/api/v1/pools").WithTags("Pools");
        group.MapGet("/", ListAsync).Produces<PoolInfo[]>().WithSummary("Configured pools (Batchyard:Pools:NAME = slots) and quotas (Batchyard:Quotas:TYPE = instances, as quota:TYPE) and who uses them; pages with limit and cursor");
        group.MapGet("/{pool}", async (string pool, ApiOperations api, CancellationToken cancellationToken) => TypedResults.Ok(await api.GetPoolAsync(pool, cancellationToken)))
            .WithSummary("One pool; a pool that is not configured is unlimited");
        return group;
    }

    private static async Task<IResult> ListAsync(int? limit, string? cursor, Batchyard.Pools.PoolSettings pools, ApiOperations api, CancellationToken cancellationToken) =>
        PagedResults.OkOr(await api.ListPoolsAsync(pools.Configured, limit, cursor, cancellationToken));
}
