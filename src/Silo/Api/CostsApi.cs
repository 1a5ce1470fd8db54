using Batchyard.Costs;

namespace Batchyard.Silo.Api;

/// <summary><c>/api/v1/costs</c>: what attempts cost, grouped by DAG, owner, tag, instance type or day.</summary>
public static class CostsApi
{
    public static RouteGroupBuilder MapCostsApi(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/api/v1/costs").WithTags("Costs");
        group.MapGet("/", GetAsync).Produces<CostReport>()
            .WithSummary("Cost in USD and compute-seconds of the attempts that ended in [from, to) (default: this UTC month), grouped by dag, owner, tag, instance_type or day");
        return group;
    }

    private static async Task<IResult> GetAsync(
        string? from,
        string? to,
        [Microsoft.AspNetCore.Mvc.FromQuery(Name = "group_by")] string? groupBy,
        HttpContext context,
        CostOperations costs,
        CancellationToken cancellationToken) =>
        Problems.OkOr(await costs.GetCostsAsync(Hosting.ApiKeyAuthentication.CallerOf(context), from, to, groupBy, cancellationToken));
}
