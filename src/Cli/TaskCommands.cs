using System.CommandLine;
using System.Globalization;
using System.Net;

namespace Batchyard.Cli;

/// <summary><c>batchyard tasks logs|clear</c>.</summary>
internal static class TaskCommands
{
    public static Command Build(ActionFactory act)
    {
        var tasks = new Command("tasks", "Task logs and clearing");
        var id = new Argument<string>("ID") { Description = "The DAG's id" };
        var runId = new Argument<string>("RUN") { Description = "The run's id" };
        var taskId = new Argument<string>("TASK") { Description = "The task's id" };

        var attempt = new Option<int?>("--attempt") { Description = "The attempt to show (default: the newest)" };
        var follow = new Option<bool>("--follow", "-f") { Description = "Keep printing new output until the attempt ends" };
        var logs = new Command("logs", "An attempt's log") { id, runId, taskId, attempt, follow };
        logs.SetAction(act((c, p, ct) => LogsAsync(c, p.GetValue(id)!, p.GetValue(runId)!, p.GetValue(taskId)!, p.GetValue(attempt), p.GetValue(follow), ct)));
        tasks.Add(logs);

        var clear = new Command("clear", "Rerun the task and everything downstream of it") { id, runId, taskId };
        clear.SetAction(act(async (c, p, ct) =>
        {
            var task = p.GetValue(taskId)!;
            var run = await c.Api.PostAsync($"{RunCommands.RunPath(p.GetValue(id)!, p.GetValue(runId)!)}/tasks/{ApiClient.Segment(task)}/clear", null, ct);
            return await c.DoneAsync(run, $"cleared {task} in run {run.Str("runId")} ({run.Str("state")})");
        }));
        tasks.Add(clear);
        return tasks;
    }

    private static async Task<int> LogsAsync(CliContext c, string dagId, string runId, string taskId, int? attempt, bool follow, CancellationToken ct)
    {
        var basePath = $"{RunCommands.RunPath(dagId, runId)}/tasks/{ApiClient.Segment(taskId)}/logs";
        var cursor = "";
        // Without --attempt, following goes on through the task's retries until the task itself is done.
        var followRetries = follow && attempt is null;
        while (true)
        {
            var query = new List<string>();
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
            if (complete && followRetries && attempt is { } ended && await NextAttemptAsync(c, dagId, runId, taskId, ended, ct) is { } next)
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
    private static async Task<int?> NextAttemptAsync(CliContext c, string dagId, string runId, string taskId, int ended, CancellationToken ct)
    {
        string[] final = ["succeeded", "failed", "timed_out", "cancelled", "skipped", "upstream_failed"];
        while (true)
        {
            var run = await c.Api.GetAsync(RunCommands.RunPath(dagId, runId), ct);
            var task = run.GetProperty("tasks").EnumerateArray().FirstOrDefault(t => t.Str("taskId") == taskId);
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
