using System.Collections.Immutable;
using System.Globalization;
using System.Text.Json;
using Batchyard.Runs;

namespace Batchyard.Silo.Api;

/// <summary><c>/api/v1/dags/{dagId}/runs</c>: trigger, list, read and cancel runs; clear tasks; read logs.</summary>
public static class RunsApi
{
    public static RouteGroupBuilder MapRunsApi(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/api/v1/dags/{dagId}/runs").WithTags("Runs");
        group.MapPost("/", TriggerAsync).WithSummary("Trigger a run; 202 with the run").RequireRateLimiting(RateLimitOptions.WritesPolicy);
        group.MapGet("/", ListAsync).Produces<RunSummary[]>().WithSummary("The DAG's runs, newest first; pages with limit and cursor");
        group.MapGet("/{runId}", GetAsync).WithSummary("The run with every task instance and attempt");
        group.MapPost("/{runId}/cancel", CancelAsync).WithSummary("Cancel the run: stops every running job on its backend").RequireRateLimiting(RateLimitOptions.WritesPolicy);
        group.MapPost("/{runId}/tasks/{taskId}/clear", ClearAsync).WithSummary("Rerun the task and everything downstream of it").RequireRateLimiting(RateLimitOptions.WritesPolicy);
        group.MapGet("/{runId}/tasks/{taskId}/logs", LogsAsync).WithSummary("An attempt's log text, with a cursor to follow it");
        group.MapGet("/{runId}/tasks/{taskId}/output", OutputAsync).WithSummary("The output (JSON) of the task's latest successful attempt");
        return group;
    }

    private static async Task<IResult> TriggerAsync(string dagId, HttpRequest request, ApiOperations api)
    {
        var parameters = ImmutableDictionary<string, string>.Empty;
        DateTimeOffset? logicalDate = null;
        if (request.ContentLength is > 0 || request.Headers.TransferEncoding.Count > 0)
        {
            try
            {
                using var document = await JsonDocument.ParseAsync(request.Body, cancellationToken: request.HttpContext.RequestAborted);
                (parameters, logicalDate) = ReadTriggerBody(document.RootElement);
            }
            catch (Exception ex) when (ex is JsonException or FormatException or InvalidOperationException)
            {
                return Problems.BadRequest("Invalid trigger body", $"expected {{ \"params\": {{..}}, \"logical_date\": \"ISO-8601\" }}, both optional: {ex.Message}");
            }
        }

        var outcome = await api.TriggerAsync(Caller(request.HttpContext), dagId, new TriggerRequest { Params = parameters, LogicalDate = logicalDate });
        return outcome is { Value: { } run }
            ? TypedResults.Accepted($"/api/v1/dags/{dagId}/runs/{run.RunId}", run)
            : Problems.From(outcome.Failure!);
    }

    private static async Task<IResult> ListAsync(string dagId, string? state, int? limit, DateTimeOffset? before, string? cursor, HttpContext context, ApiOperations api, CancellationToken cancellationToken) =>
        PagedResults.OkOr(await api.ListRunsAsync(Caller(context), dagId, state, limit, before, cursor, cancellationToken));

    private static async Task<IResult> GetAsync(string dagId, string runId, HttpContext context, ApiOperations api, CancellationToken cancellationToken) =>
        Problems.OkOr(await api.GetRunAsync(Caller(context), dagId, runId, cancellationToken));

    private static async Task<IResult> CancelAsync(string dagId, string runId, HttpContext context, ApiOperations api) =>
        Problems.OkOr(await api.CancelRunAsync(Caller(context), dagId, runId));

    private static async Task<IResult> ClearAsync(string dagId, string runId, string taskId, [Microsoft.AspNetCore.Mvc.FromQuery(Name = "map_index")] int? mapIndex, HttpContext context, ApiOperations api) =>
        Problems.OkOr(await api.ClearTaskAsync(Caller(context), dagId, runId, taskId, mapIndex));

    private static async Task<IResult> LogsAsync(string dagId, string runId, string taskId, int? attempt, string? cursor, [Microsoft.AspNetCore.Mvc.FromQuery(Name = "map_index")] int? mapIndex, HttpContext context, ApiOperations api, CancellationToken cancellationToken) =>
        Problems.OkOr(await api.ReadLogAsync(Caller(context), dagId, runId, taskId, attempt, cursor, cancellationToken, mapIndex));

    private static async Task<IResult> OutputAsync(string dagId, string runId, string taskId, [Microsoft.AspNetCore.Mvc.FromQuery(Name = "map_index")] int? mapIndex, HttpContext context, ApiOperations api, CancellationToken cancellationToken)
    {
        var outcome = await api.ReadOutputAsync(Caller(context), dagId, runId, taskId, mapIndex, cancellationToken);
        return outcome is { Value: { } output } ? TypedResults.Text(output, "application/json") : Problems.From(outcome.Failure!);
    }

    private static Access.Caller Caller(HttpContext context) => Hosting.ApiKeyAuthentication.CallerOf(context);

    private static (ImmutableDictionary<string, string> Params, DateTimeOffset? LogicalDate) ReadTriggerBody(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw new FormatException("the body must be a JSON object");
        }
        var parameters = ImmutableDictionary<string, string>.Empty;
        DateTimeOffset? logicalDate = null;
        foreach (var member in root.EnumerateObject())
        {
            switch (member.Name)
            {
                case "params" when member.Value.ValueKind == JsonValueKind.Object:
                    foreach (var param in member.Value.EnumerateObject())
                    {
                        parameters = parameters.SetItem(param.Name, param.Value.ValueKind == JsonValueKind.String ? param.Value.GetString()! : param.Value.GetRawText());
                    }
                    break;
                case "params" when member.Value.ValueKind == JsonValueKind.Null:
                    break;
                case "params":
                    throw new FormatException("'params' must be an object");
                case "logical_date" or "logicalDate" when member.Value.ValueKind == JsonValueKind.Null:
                    break;
                case "logical_date" or "logicalDate":
                    logicalDate = DateTimeOffset.Parse(member.Value.GetString() ?? "", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal).ToUniversalTime();
                    break;
                default:
                    throw new FormatException($"unknown member '{member.Name}'");
            }
        }
        return (parameters, logicalDate);
    }
}
