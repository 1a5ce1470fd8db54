using System.CommandLine;
using System.Globalization;
using System.Net;

namespace Batchyard.Cli;

/// <summary><c>batchyard tasks logs|output|clear</c>.</summary>
internal static class TaskCommands
{
    public static Command Build(ActionFactory act)
    {
        var tasks = new Command("tasks", "Task logs, outputs and clearing");
        var id = new Argument<string>("ID") { Description = "The DAG's id" };
        var runId = new Argument<string>("RUN") { Description = "The run's id" };
        var taskId = new Argument<string>("TASK") { Description = "The task's id" };

        var attempt = new Option<int?>("--attempt") { Description = "The attempt to show (default: the newest)" };
        var follow = new Option<bool>("--follow", "-f") { Description = "Keep printing new output until the attempt ends" };
        var mapIndex = new Option<int?>("--map-index") { Description = "An instance of a mapped task (0…n−1)" };
        var logs = new Command("logs", "An attempt's log") { id, runId, taskId, attempt, follow, mapIndex };
        logs.SetAction(act((c, p, ct) => LogsAsync(c, p.GetValue(id)!, p.GetValue(runId)!, p.GetValue(taskId)!, p.GetValue(mapIndex), p.GetValue(attempt), p.GetValue(follow), ct)));
        tasks.Add(logs);

        var output = new Command("output", "The output (JSON) of the task's latest successful attempt; a mapped task's is the list of its instances'") { id, runId, taskId, mapIndex };
        output.SetAction(act(async (c, p, ct) =>
        {
            var path = $"{RunCommands.RunPath(p.GetValue(id)!, p.GetValue(runId)!)}/tasks/{ApiClient.Segment(p.GetValue(taskId)!)}/output{MapQuery(p.GetValue(mapIndex), first: true)}";
            var value = await c.Api.GetAsync(path, ct);
            var text = c.Json
                ? System.Text.Json.JsonSerializer.Serialize(value)
                : System.Text.Json.JsonSerializer.Serialize(value, new System.Text.Json.JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
            await c.Out.WriteLineAsync(text);
            return ExitCodes.Ok;
        }));
        tasks.Add(output);

        var clear = new Command("clear", "Rerun the task (or one instance of a mapped task) and everything downstream of it") { id, runId, taskId, mapIndex };
        clear.SetAction(act(async (c, p, ct) =>
        {
            var task = p.GetValue(taskId)!;
            var index = p.GetValue(mapIndex);
            var run = await c.Api.PostAsync($"{RunCommands.RunPath(p.GetValue(id)!, p.GetValue(runId)!)}/tasks/{ApiClient.Segment(task)}/clear{MapQuery(index, first: true)}", null, ct);
            var what = index is { } i ? $"{task}[{i.ToString(CultureInfo.InvariantCulture)}]" : task;
            return await c.DoneAsync(run, $"cleared {what} in run {run.Str("runId")} ({run.Str("state")})");
        }));
        tasks.Add(clear);
        return tasks;
    }

    private static string MapQuery(int? mapIndex, bool first) =>
        mapIndex is { } i ? $"{(first ? "?" : "&")}map_index={i.ToString(CultureInfo.InvariantCulture)}" : "";

    private static async Task<int> LogsAsync(CliContext c, string dagId, string runId, string taskId, int? mapIndex, int? attempt, bool follow, CancellationToken ct)
    {
        var basePath = $"{RunCommands.RunPath(dagId, runId)}/tasks/{ApiClient.Segment(taskId)}/logs";
        var cursor = "";
        // Without --attempt, following goes on through the task's retries until the task itself is done.
        var followRetries = follow && attempt is null;
        while (true)
        {
            var query = new List<string>();
            if (mapIndex is { } index)
            {
                query.Add($"map_index={index.ToString(CultureInfo.InvariantCulture)}");
            }
            if (attempt is { } a)
            {
                query.Add($"attempt={a.ToString(CultureInfo.InvariantCulture)}");
            }
            if (cursor.Length > 0)
            {
                query.Add($"cursor={Uri.EscapeDataString(cursor)}");
            }
            System.Text.Json.JsonElement page;
            try
            {
                page = await c.Api.GetAsync(basePath + (query.Count > 0 ? "?" + string.Join('&', query) : ""), ct);
            }
            catch (ApiException ex) when (follow && ex.Status == HttpStatusCode.NotFound && ex.Detail?.Contains("no attempt yet", StringComparison.Ordinal) == true)
            {
                // Following a task that has not started: wait for its first attempt.
                await Task.Delay(c.PollInterval, ct);
                continue;
            }

            attempt ??= page.TryGetProperty("attempt", out var n) ? n.GetInt32() : null;
            var text = page.Str("text") ?? "";
            cursor = page.Str("cursor") ?? cursor;
            var complete = page.Str("complete") == "true";
            if (c.Json)
            {
                if (text.Length > 0 || complete || !follow)
                {
                    await c.Out.WriteLineAsync(System.Text.Json.JsonSerializer.Serialize(page));
                }
            }
            else
            {
                await c.Out.WriteAsync(text);
                await c.Out.FlushAsync(ct);
            }
            if (complete && followRetries && attempt is { } ended && await NextAttemptAsync(c, dagId, runId, taskId, mapIndex, ended, ct) is { } next)
            {
                if (!c.Json)
                {
                    await c.Out.WriteLineAsync($"--- attempt {next.ToString(CultureInfo.InvariantCulture)} ---");
                }
                attempt = next;
                cursor = "";
                continue;
            }
            if (complete || (!follow && text.Length == 0))
            {
                return ExitCodes.Ok;
            }
            if (text.Length == 0)
            {
                await Task.Delay(c.PollInterval, ct);
            }
        }
    }

    /// <summary>Waits for the attempt after <paramref name="ended"/>; null when the task is done and none will come.</summary>
    private static async Task<int?> NextAttemptAsync(CliContext c, string dagId, string runId, string taskId, int? mapIndex, int ended, CancellationToken ct)
    {
        string[] final = ["succeeded", "failed", "timed_out", "cancelled", "skipped", "upstream_failed"];
        while (true)
        {
            var run = await c.Api.GetAsync(RunCommands.RunPath(dagId, runId), ct);
            var task = run.GetProperty("tasks").EnumerateArray().FirstOrDefault(t => t.Str("taskId") == taskId
                && (t.TryGetProperty("mapIndex", out var m) && m.ValueKind == System.Text.Json.JsonValueKind.Number ? m.GetInt32() : (int?)null) == mapIndex);
            if (task.ValueKind != System.Text.Json.JsonValueKind.Object)
            {
                return null;
            }
            var attempts = task.GetProperty("attempts").GetArrayLength();
            if (attempts > ended)
            {
                return ended + 1;
            }
            if (final.Contains(task.Str("state")))
            {
                return null;
            }
            await Task.Delay(c.PollInterval, ct);
        }
    }
}
