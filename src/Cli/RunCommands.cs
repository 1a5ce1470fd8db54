using System.CommandLine;
using System.Globalization;
using System.Text.Json;

namespace Batchyard.Cli;

/// <summary><c>batchyard runs list|show|cancel</c>.</summary>
internal static class RunCommands
{
    public static Command Build(ActionFactory act)
    {
        var runs = new Command("runs", "List, show and cancel runs");
        var id = new Argument<string>("ID") { Description = "The DAG's id" };
        var runId = new Argument<string>("RUN") { Description = "The run's id" };

        var state = new Option<string?>("--state") { Description = "Only runs in this state (queued, running, succeeded, failed, cancelled)" };
        var limit = new Option<int?>("--limit") { Description = "At most this many runs (default 25; more than a page is read page by page)" };
        var all = new Option<bool>("--all") { Description = "Every run of the DAG, page by page" };
        var pageSize = DagCommands.PageSizeOption();
        var list = new Command("list", "A DAG's runs, newest first") { id, state, limit, all, pageSize };
        list.SetAction(act(async (c, p, ct) =>
        {
            var path = $"api/v1/dags/{ApiClient.Segment(p.GetValue(id)!)}/runs";
            if (p.GetValue(state) is { } s)
            {
                path += $"?state={Uri.EscapeDataString(s)}";
            }
            int? max = p.GetValue(all) ? p.GetValue(limit) : p.GetValue(limit) ?? 25;
            var runs = await c.Api.GetAllAsync(path, Math.Min(p.GetValue(pageSize), max ?? int.MaxValue), max, ct);
            if (c.Json)
            {
                c.WriteJson(runs);
            }
            else
            {
                RunTable(runs).WriteTo(c.Out);
            }
            return ExitCodes.Ok;
        }));
        runs.Add(list);

        var show = new Command("show", "The run with every task and attempt") { id, runId };
        show.SetAction(act(async (c, p, ct) =>
        {
            var run = await c.Api.GetAsync(RunPath(p.GetValue(id)!, p.GetValue(runId)!), ct);
            if (c.Json)
            {
                c.WriteJson(run);
            }
            else
            {
                WriteRun(c.Out, run);
            }
            return ExitCodes.Ok;
        }));
        runs.Add(show);

        var cancel = new Command("cancel", "Cancel the run: stops every running job") { id, runId };
        cancel.SetAction(act(async (c, p, ct) =>
        {
            var run = await c.Api.PostAsync(RunPath(p.GetValue(id)!, p.GetValue(runId)!) + "/cancel", null, ct);
            return await c.DoneAsync(run, $"run {run.Str("runId")} {run.Str("state")}");
        }));
        runs.Add(cancel);
        return runs;
    }

    internal static string RunPath(string dagId, string runId) =>
        $"api/v1/dags/{ApiClient.Segment(dagId)}/runs/{ApiClient.Segment(runId)}";

    internal static TextTable RunTable(IEnumerable<JsonElement> runs)
    {
        var table = new TextTable("RUN", "STATE", "TYPE", "LOGICAL DATE", "STARTED", "ENDED");
        foreach (var run in runs)
        {
            table.Add(run.Str("runId"), StateOf(run), run.Str("runType"), CliApp.Time(run.Str("logicalDate")),
                CliApp.Time(run.Str("startedAt")), CliApp.Time(run.Str("endedAt")));
        }
        return table;
    }

    internal static void WriteRun(TextWriter output, JsonElement run)
    {
        var facts = new TextTable("RUN", run.Str("runId") ?? "");
        facts.Add("dag", run.Str("dagId"));
        facts.Add("state", StateOf(run));
        facts.Add("type", run.Str("runType"));
        facts.Add("triggered by", run.Str("triggeredBy") ?? "-");
        facts.Add("logical date", CliApp.Time(run.Str("logicalDate")));
        facts.Add("started", CliApp.Time(run.Str("startedAt")));
        facts.Add("ended", CliApp.Time(run.Str("endedAt")));
        facts.Add("cost", run.Str("costUsd") is { } cost ? $"{CostCommands.Usd(cost)} USD" : "-");
        if (run.TryGetProperty("params", out var parameters) && parameters.ValueKind == JsonValueKind.Object)
        {
            foreach (var p in parameters.EnumerateObject())
            {
                facts.Add($"param {p.Name}", p.Value.ToString());
            }
        }
        facts.WriteTo(output);
        output.WriteLine();

        var tasks = new TextTable("TASK", "STATE", "ATTEMPTS", "EXIT", "REASON");
        foreach (var task in run.Items("tasks"))
        {
            var last = task.Items("attempts").LastOrDefault();
            tasks.Add(TaskName(task), StateOf(task), task.Items("attempts").Count().ToString(CultureInfo.InvariantCulture),
                last.Str("exitCode") ?? "-", last.Str("reason") ?? "");
        }
        tasks.WriteTo(output);
    }

    /// <summary>A run's or task's state, with <c>(late)</c> when it passed its deadline unfinished.</summary>
    private static string? StateOf(JsonElement entry) =>
        entry.Str("late") == "true" ? $"{entry.Str("state")} (late)" : entry.Str("state");

    /// <summary>A task entry's name: its id, <c>id[index]</c> for an instance of a mapped task, <c>id[n]</c> for a mapped task's own entry.</summary>
    private static string TaskName(JsonElement task)
    {
        var id = task.Str("taskId")!;
        return task.Str("mapIndex") is { } index ? $"{id}[{index}]"
            : task.Str("mapCount") is { } count ? $"{id} (mapped: {count})"
            : id;
    }

    /// <summary>Follows a run until it ends, printing one line per task change (nothing in JSON mode); returns the final run.</summary>
    internal static async Task<JsonElement> WaitAsync(CliContext c, string dagId, string runId, JsonElement run, CancellationToken ct)
    {
        var seen = new Dictionary<string, string>(StringComparer.Ordinal);
        while (true)
        {
            if (!c.Json)
            {
                foreach (var task in run.Items("tasks"))
                {
                    var taskId = TaskName(task);
                    var state = task.Str("state")!;
                    if (task.Str("mapIndex") is not null && state is not ("failed" or "up_for_retry" or "timed_out"))
                    {
                        // A map of thousands would flood the terminal: its own entry tells the progress; failures are shown.
                        continue;
                    }
                    var attempts = task.Items("attempts").Count();
                    var key = $"{state}#{attempts}";
                    if (seen.GetValueOrDefault(taskId) == key || (state == "pending" && !seen.ContainsKey(taskId)))
                    {
                        continue;
                    }
                    seen[taskId] = key;
                    var reason = task.Items("attempts").LastOrDefault().Str("reason");
                    var suffix = state is "failed" or "up_for_retry" or "timed_out" && reason is not null ? $" ({reason})" : "";
                    await c.Out.WriteLineAsync($"  {taskId,-24} {state}{(attempts > 1 ? $" [attempt {attempts}]" : "")}{suffix}");
                }
            }
            if (run.Str("state") is "succeeded" or "failed" or "cancelled")
            {
                return run;
            }
            await Task.Delay(c.PollInterval, ct);
            run = await c.Api.GetAsync(RunPath(dagId, runId), ct);
        }
    }

    internal static int ExitCodeOf(string? state) => state switch
    {
        "succeeded" => ExitCodes.Ok,
        "cancelled" => ExitCodes.Cancelled,
        _ => ExitCodes.Failed,
    };
}
