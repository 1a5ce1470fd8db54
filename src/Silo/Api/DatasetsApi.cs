using System.Text.Json;
using Batchyard.Datasets;

namespace Batchyard.Silo.Api;

/// <summary><c>/api/v1/datasets</c>: datasets with producers, consumers and last update; updates posted from outside.</summary>
public static class DatasetsApi
{
    public static RouteGroupBuilder MapDatasetsApi(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/api/v1/datasets").WithTags("Datasets");
        group.MapGet("/", ListAsync).Produces<DatasetListItem[]>().WithSummary("Datasets by name with producers, consumers, last update and a warning when nothing produces one; pages with limit and cursor");
        group.MapGet("/{name}", GetAsync).Produces<DatasetView>().WithSummary("One dataset with its updates, newest first (limit, cursor: the answer's nextCursor)");
        group.MapPost("/{name}/events", EmitAsync).WithSummary("Mark the dataset updated from outside Batchyard: body { \"extra\": {..} } (optional); 201 with the update")
            .RequireRateLimiting(RateLimitOptions.WritesPolicy);
        return group;
    }

    private static async Task<IResult> ListAsync(int? limit, string? cursor, DatasetOperations datasets, CancellationToken cancellationToken) =>
        PagedResults.OkOr(await datasets.ListAsync(limit, cursor, cancellationToken));

    private static async Task<IResult> GetAsync(string name, int? limit, string? cursor, DatasetOperations datasets, CancellationToken cancellationToken) =>
        Problems.OkOr(await datasets.GetAsync(name, limit, cursor, cancellationToken));

    private static async Task<IResult> EmitAsync(string name, HttpRequest request, DatasetOperations datasets)
    {
        string? extra = null;
        if (request.ContentLength is > 0 || request.Headers.TransferEncoding.Count > 0)
        {
            try
            {
                using var document = await JsonDocument.ParseAsync(request.Body, cancellationToken: request.HttpContext.RequestAborted);
                extra = ReadExtra(document.RootElement);
            }
            catch (Exception ex) when (ex is JsonException or FormatException)
            {
                return Problems.BadRequest("Invalid event body", $"expected {{ \"extra\": {{..}} }}, optional: {ex.Message}");
            }
        }
        var outcome = await datasets.EmitAsync(Hosting.ApiKeyAuthentication.CallerOf(request.HttpContext), name, extra);
        return outcome is { Value: { } update }
            ? TypedResults.Created($"/api/v1/datasets/{name}", update)
            : Problems.From(outcome.Failure!);
    }

    private static string? ReadExtra(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw new FormatException("the body must be a JSON object");
        }
        string? extra = null;
        foreach (var member in root.EnumerateObject())
        {
            extra = member.Name switch
            {
                "extra" when member.Value.ValueKind == JsonValueKind.Null => null,
                "extra" when member.Value.ValueKind == JsonValueKind.Object => member.Value.GetRawText(),
                "extra" => throw new FormatException("'extra' must be an object"),
                _ => throw new FormatException($"unknown member '{member.Name}'"),
            };
        }
        return extra;
    }
}
