using System.Text;

namespace Batchyard.Silo.Api;

/// <summary><c>/api/v1/dags</c>: list, read, apply, delete, pause and unpause DAGs.</summary>
public static class DagsApi
{
    public static RouteGroupBuilder MapDagsApi(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/api/v1/dags").WithTags("DAGs");
        group.MapGet("/", ListAsync).Produces<DagListItem[]>().WithSummary("DAGs by id: id, paused, schedule, next run time, last run state; filters tag, owner, state, q, paused; pages with limit and cursor");
        group.MapGet("/{dagId}", async (string dagId, HttpContext context, ApiOperations api, CancellationToken cancellationToken) => Problems.OkOr(await api.GetDagAsync(Caller(context), dagId, cancellationToken)))
            .WithSummary("The DAG, its tasks and edges, its state");
        group.MapPut("/{dagId}", ApplyAsync).WithSummary("Create or replace a DAG from a YAML or JSON body")
            .Accepts<string>("application/yaml", "application/json", "text/plain").RequireRateLimiting(RateLimitOptions.WritesPolicy);
        group.MapDelete("/{dagId}", DeleteAsync).WithSummary("Remove a DAG; its history stays readable").RequireRateLimiting(RateLimitOptions.WritesPolicy);
        group.MapPost("/{dagId}/pause", async (string dagId, HttpContext context, ApiOperations api) => Problems.OkOr(await api.SetPausedAsync(Caller(context), dagId, true)))
            .WithSummary("Stop the DAG's schedule").RequireRateLimiting(RateLimitOptions.WritesPolicy);
        group.MapPost("/{dagId}/unpause", async (string dagId, HttpContext context, ApiOperations api) => Problems.OkOr(await api.SetPausedAsync(Caller(context), dagId, false)))
            .WithSummary("Resume the DAG's schedule").RequireRateLimiting(RateLimitOptions.WritesPolicy);
        return group;
    }

    private static async Task<IResult> ListAsync(
        string? tag, string? owner, string? state, string? q, bool? paused, int? limit, string? cursor, HttpContext context, ApiOperations api, CancellationToken cancellationToken) =>
        PagedResults.OkOr(await api.ListDagsAsync(Caller(context), new DagFilters(tag, owner, state, q, paused), limit, cursor, cancellationToken));

    private static Access.Caller Caller(HttpContext context) => Hosting.ApiKeyAuthentication.CallerOf(context);

    private static async Task<IResult> ApplyAsync(string dagId, HttpRequest request, ApiOperations api)
    {
        string text;
        using (var reader = new StreamReader(request.Body, Encoding.UTF8))
        {
            text = await reader.ReadToEndAsync(request.HttpContext.RequestAborted);
        }
        var outcome = await api.ApplyDagAsync(Caller(request.HttpContext), dagId, text);
        if (outcome.Failure is { } failure)
        {
            return Problems.From(failure);
        }
        var (view, created) = outcome.Value;
        return created ? TypedResults.Created($"/api/v1/dags/{dagId}", view) : TypedResults.Ok(view);
    }

    private static async Task<IResult> DeleteAsync(string dagId, HttpContext context, ApiOperations api) =>
        (await api.DeleteDagAsync(Caller(context), dagId)).Failure is { } failure ? Problems.From(failure) : TypedResults.NoContent();
}
