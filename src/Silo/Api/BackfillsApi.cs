using System.Globalization;
using System.Text.Json;
using Batchyard.Grains;

namespace Batchyard.Silo.Api;

/// <summary><c>/api/v1/dags/{dagId}/backfills</c>: create, list, read and cancel backfills.</summary>
public static class BackfillsApi
{
    public static RouteGroupBuilder MapBackfillsApi(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/api/v1/dags/{dagId}/backfills").WithTags("Backfills");
        group.MapPost("/", CreateAsync).WithSummary("Backfill the DAG's cron slots in [from, to]; 201 with the backfill (its runs are made in the background)")
            .RequireRateLimiting(RateLimitOptions.WritesPolicy);
        group.MapGet("/", async (string dagId, int? limit, string? cursor, HttpContext context, ApiOperations api, CancellationToken cancellationToken) =>
            PagedResults.OkOr(await api.ListBackfillsAsync(Caller(context), dagId, limit, cursor, cancellationToken)))
            .Produces<BackfillInfo[]>().WithSummary("The DAG's backfills, newest first; pages with limit and cursor");
        group.MapGet("/{backfillId}", async (string dagId, string backfillId, HttpContext context, ApiOperations api, CancellationToken cancellationToken) =>
            Problems.OkOr(await api.GetBackfillAsync(Caller(context), dagId, backfillId, cancellationToken)))
            .WithSummary("One backfill and its progress");
        group.MapPost("/{backfillId}/cancel", async (string dagId, string backfillId, HttpContext context, ApiOperations api) =>
            Problems.OkOr(await api.CancelBackfillAsync(Caller(context), dagId, backfillId)))
            .WithSummary("Make no more runs and cancel the unfinished ones").RequireRateLimiting(RateLimitOptions.WritesPolicy);
        return group;
    }

    private static async Task<IResult> CreateAsync(string dagId, HttpRequest request, ApiOperations api)
    {
        BackfillRequest backfill;
        try
        {
            using var document = await JsonDocument.ParseAsync(request.Body, cancellationToken: request.HttpContext.RequestAborted);
            backfill = Read(document.RootElement);
        }
        catch (Exception ex) when (ex is JsonException or FormatException or InvalidOperationException)
        {
            return Problems.BadRequest("Invalid backfill", ex.Message);
        }
        var outcome = await api.CreateBackfillAsync(Caller(request.HttpContext), dagId, backfill);
        return outcome is { Value: { } created }
            ? TypedResults.Created($"/api/v1/dags/{dagId}/backfills/{created.BackfillId}", created)
            : Problems.From(outcome.Failure!);
    }

    /// <summary>Reads <c>{from, to, reprocess, max_active_runs, backwards}</c>; each mistake is named.</summary>
    public static BackfillRequest Read(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw new FormatException("the body must be a JSON object { \"from\", \"to\", \"reprocess\", \"max_active_runs\", \"backwards\" }");
        }
        DateTimeOffset? from = null, to = null;
        var request = new BackfillRequest();
        foreach (var member in root.EnumerateObject())
        {
            switch (member.Name)
            {
                case "from":
                    from = Time(member);
                    break;
                case "to":
                    to = Time(member);
                    break;
                case "reprocess" when member.Value.ValueKind == JsonValueKind.Null:
                    break;
                case "reprocess":
                    if (member.Value.ValueKind != JsonValueKind.String || !Json.TryParseEnum<BackfillReprocess>(member.Value.GetString()!, out var reprocess))
                    {
                        throw new FormatException($"reprocess must be one of: missing, failed, all (got {member.Value.GetRawText()})");
                    }
                    request = request with { Reprocess = reprocess };
                    break;
                case "max_active_runs" or "maxActiveRuns" when member.Value.ValueKind == JsonValueKind.Null:
                    break;
                case "max_active_runs" or "maxActiveRuns":
                    if (member.Value.ValueKind != JsonValueKind.Number || !member.Value.TryGetInt32(out var max) || max < 1)
                    {
                        throw new FormatException($"max_active_runs must be a whole number of at least 1 (got {member.Value.GetRawText()})");
                    }
                    request = request with { MaxActiveRuns = max };
                    break;
                case "backwards" when member.Value.ValueKind is JsonValueKind.True or JsonValueKind.False:
                    request = request with { Backwards = member.Value.GetBoolean() };
                    break;
                case "backwards":
                    throw new FormatException($"backwards must be true or false (got {member.Value.GetRawText()})");
                default:
                    throw new FormatException($"unknown member '{member.Name}' (expected from, to, reprocess, max_active_runs, backwards)");
            }
        }
        return request with
        {
            From = from ?? throw new FormatException("from is required (an ISO-8601 time)"),
            To = to ?? throw new FormatException("to is required (an ISO-8601 time)"),
        };
    }

    private static DateTimeOffset Time(JsonProperty member) =>
        member.Value.ValueKind == JsonValueKind.String
        && DateTimeOffset.TryParse(member.Value.GetString(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at)
            ? at.ToUniversalTime()
            : throw new FormatException($"{member.Name} must be an ISO-8601 time such as 2026-03-01T00:00:00Z (got {member.Value.GetRawText()})");

    private static Access.Caller Caller(HttpContext context) => Hosting.ApiKeyAuthentication.CallerOf(context);
}
