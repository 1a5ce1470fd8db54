using System.Collections.Immutable;
using System.Globalization;
using System.Text.Json;
using Batchyard.Grains;
using Batchyard.History;
using Batchyard.Logs;
using Batchyard.Runs;

namespace Batchyard.Silo.Api;

/// <summary><c>/api/v1/dags/{dagId}/runs</c>: trigger, list, read and cancel runs; clear tasks; read logs.</summary>
public static class RunsApi
{
    private const int MaxLogChars = 256 * 1024;

    public static RouteGroupBuilder MapRunsApi(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/api/v1/dags/{dagId}/runs").WithTags("Runs");
        group.MapPost("/", TriggerAsync).WithSummary("Trigger a run; 202 with the run");
        group.MapGet("/", ListAsync).WithSummary("The DAG's runs, newest first");
        group.MapGet("/{runId}", GetAsync).WithSummary("The run with every task instance and attempt");
        group.MapPost("/{runId}/cancel", CancelAsync).WithSummary("Cancel the run: stops every running job on its backend");
        group.MapPost("/{runId}/tasks/{taskId}/clear", ClearAsync).WithSummary("Rerun the task and everything downstream of it");
        group.MapGet("/{runId}/tasks/{taskId}/logs", LogsAsync).WithSummary("An attempt's log text, with a cursor to follow it");
        return group;
    }

    private static async Task<IResult> TriggerAsync(string dagId, HttpRequest request, IGrainFactory grains)
    {
        var dag = grains.GetGrain<IDagGrain>(dagId);
        if (await dag.GetAsync() is not { Definition: not null })
        {
            return Problems.NotFound($"DAG '{dagId}' does not exist");
        }

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

        var run = await dag.TriggerAsync(new TriggerRequest { Params = parameters, LogicalDate = logicalDate });
        return TypedResults.Accepted($"/api/v1/dags/{dagId}/runs/{run.RunId}", run);
    }

    private static async Task<IResult> ListAsync(string dagId, string? state, int? limit, DateTimeOffset? before, IRunHistoryStore history)
    {
        RunState? wanted = null;
        if (!string.IsNullOrEmpty(state))
        {
            if (!Json.TryParseEnum<RunState>(state, out var parsed))
            {
                return Problems.BadRequest("Invalid state", $"state must be one of: {string.Join(", ", Enum.GetValues<RunState>().Select(Json.EnumName))}");
            }
            wanted = parsed;
        }
        if (limit is < 1 or > 1000)
        {
            return Problems.BadRequest("Invalid limit", "limit must be between 1 and 1000");
        }
        return TypedResults.Ok(await history.ListRunsAsync(dagId, wanted, before, limit ?? 25));
    }

    private static async Task<IResult> GetAsync(string dagId, string runId, IGrainFactory grains) =>
        await Run(grains, dagId, runId).GetAsync() is { } run
            ? TypedResults.Ok(run)
            : Problems.NotFound($"run '{runId}' of DAG '{dagId}' does not exist");

    private static async Task<IResult> CancelAsync(string dagId, string runId, IGrainFactory grains)
    {
        var grain = Run(grains, dagId, runId);
        if (await grain.GetAsync() is not { } run)
        {
            return Problems.NotFound($"run '{runId}' of DAG '{dagId}' does not exist");
        }
        if (run.State.IsFinal())
        {
            return Problems.Conflict($"run '{runId}' has already ended ({Json.EnumName(run.State)})");
        }
        return TypedResults.Ok(await grain.CancelAsync());
    }

    private static async Task<IResult> ClearAsync(string dagId, string runId, string taskId, IGrainFactory grains)
    {
        var grain = Run(grains, dagId, runId);
        if (await grain.GetAsync() is not { } run)
        {
            return Problems.NotFound($"run '{runId}' of DAG '{dagId}' does not exist");
        }
        if (run.Tasks.FirstOrDefault(t => t.TaskId == taskId) is not { } task)
        {
            return Problems.NotFound($"task '{taskId}' is not in run '{runId}'");
        }
        if (run.State == RunState.Cancelled || run.State == RunState.Queued)
        {
            return Problems.Conflict($"run '{runId}' is {Json.EnumName(run.State)}; only a running or finished run can be cleared");
        }
        if (task.State == TaskState.Pending)
        {
            return Problems.Conflict($"task '{taskId}' has not started; there is nothing to clear");
        }
        return TypedResults.Ok(await grain.ClearTaskAsync(taskId));
    }

    private static async Task<IResult> LogsAsync(string dagId, string runId, string taskId, int? attempt, string? cursor, IGrainFactory grains, IAttemptLogStore logs, CancellationToken cancellationToken)
    {
        if (await Run(grains, dagId, runId).GetAsync() is not { } run)
        {
            return Problems.NotFound($"run '{runId}' of DAG '{dagId}' does not exist");
        }
        if (run.Tasks.FirstOrDefault(t => t.TaskId == taskId) is not { } task)
        {
            return Problems.NotFound($"task '{taskId}' is not in run '{runId}'");
        }
        if (task.Attempts.IsEmpty)
        {
            return Problems.NotFound($"task '{taskId}' has made no attempt yet");
        }
        var number = attempt ?? task.Attempts[^1].Attempt;
        if (task.Attempts.FirstOrDefault(a => a.Attempt == number) is not { } details)
        {
            return Problems.NotFound($"task '{taskId}' has no attempt {number}");
        }
        long position = 0;
        if (!string.IsNullOrEmpty(cursor) && (!long.TryParse(cursor, NumberStyles.None, CultureInfo.InvariantCulture, out position) || position < 0))
        {
            return Problems.BadRequest("Invalid cursor", "cursor must be a value returned by an earlier call");
        }

        var page = await logs.ReadAsync(dagId, runId, taskId, number, position, MaxLogChars, cancellationToken);
        // Complete once the attempt has ended and this page reached the end of what it wrote.
        var complete = details.State.IsFinal() && (await logs.ReadAsync(dagId, runId, taskId, number, page.NextCursor, 1, cancellationToken)).Text.Length == 0;
        return TypedResults.Ok(new LogView(page.Text, page.NextCursor.ToString(CultureInfo.InvariantCulture), complete, number));
    }

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

    private static IDagRunGrain Run(IGrainFactory grains, string dagId, string runId) =>
        grains.GetGrain<IDagRunGrain>(RunKeys.Run(dagId, runId));
}
