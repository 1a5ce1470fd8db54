using System.CommandLine;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Batchyard.Cli;

/// <summary><c>batchyard dags list|show|apply|delete|pause|unpause|trigger|backfill</c>.</summary>
internal static partial class DagCommands
{
    public static Command Build(ActionFactory act)
    {
        var dags = new Command("dags", "List, show, apply, pause, trigger and backfill DAGs");

        var tag = new Option<string?>("--tag") { Description = "Only DAGs with this tag" };
        var owner = new Option<string?>("--owner") { Description = "Only DAGs of this owner" };
        var state = new Option<string?>("--state") { Description = "Only DAGs whose last run is in this state (queued, running, succeeded, failed, cancelled, none)" };
        var search = new Option<string?>("--search", "-q") { Description = "Only DAGs with this text (any case) in the id, description, owner or a tag" };
        var paused = new Option<bool?>("--paused") { Description = "Only paused (true) or active (false) DAGs" };
        var limit = new Option<int?>("--limit") { Description = "At most this many DAGs (all by default)" };
        var pageSize = PageSizeOption();
        var list = new Command("list", "DAGs by id: paused, schedule, next run, last run state (every page)") { tag, owner, state, search, paused, limit, pageSize };
        list.SetAction(act((c, p, ct) =>
        {
            var query = new List<string>();
            foreach (var (name, value) in new[] { ("tag", p.GetValue(tag)), ("owner", p.GetValue(owner)), ("state", p.GetValue(state)), ("q", p.GetValue(search)) })
            {
                if (!string.IsNullOrEmpty(value))
                {
                    query.Add($"{name}={Uri.EscapeDataString(value)}");
                }
            }
            if (p.GetValue(paused) is { } pausedOnly)
            {
                query.Add(pausedOnly ? "paused=true" : "paused=false");
            }
            var path = "api/v1/dags" + (query.Count > 0 ? "?" + string.Join('&', query) : "");
            return ListAsync(c, path, p.GetValue(pageSize), p.GetValue(limit), ct);
        }));
        dags.Add(list);

        var id = new Argument<string>("ID") { Description = "The DAG's id" };
        var show = new Command("show", "The DAG, its tasks and its recent runs") { id };
        show.SetAction(act((c, p, ct) => ShowAsync(c, p.GetValue(id)!, ct)));
        dags.Add(show);

        var files = new Argument<string[]>("FILE") { Description = "DAG files (YAML)", Arity = ArgumentArity.OneOrMore };
        var apply = new Command("apply", "Create or replace DAGs from files; every problem is printed as file:line: message") { files };
        apply.SetAction(act((c, p, ct) => ApplyAsync(c, p.GetValue(files)!, ct)));
        dags.Add(apply);

        foreach (var (name, description, path, verb) in new[]
        {
            ("pause", "Stop the DAG's schedule", "pause", "paused"),
            ("unpause", "Resume the DAG's schedule", "unpause", "unpaused"),
        })
        {
            var command = new Command(name, description) { id };
            command.SetAction(act(async (c, p, ct) =>
            {
                var dagId = p.GetValue(id)!;
                var dag = await c.Api.PostAsync($"api/v1/dags/{ApiClient.Segment(dagId)}/{path}", null, ct);
                return await c.DoneAsync(dag, $"{dagId} {verb}");
            }));
            dags.Add(command);
        }

        var delete = new Command("delete", "Remove a DAG (its history stays readable)") { id };
        delete.SetAction(act(async (c, p, ct) =>
        {
            var dagId = p.GetValue(id)!;
            await c.Api.DeleteAsync($"api/v1/dags/{ApiClient.Segment(dagId)}", ct);
            return await c.DoneAsync(new { dagId, deleted = true }, $"{dagId} deleted");
        }));
        dags.Add(delete);

        var param = new Option<string[]>("--param", "-p") { Description = "A run parameter, NAME=VALUE (repeatable)" };
        var logicalDate = new Option<string?>("--logical-date") { Description = "The slot the run stands for (ISO-8601); now by default" };
        var wait = new Option<bool>("--wait", "-w") { Description = "Show progress and exit with the run's outcome: 0 succeeded, 1 failed, 2 cancelled" };
        var trigger = new Command("trigger", "Start a run by hand") { id, param, logicalDate, wait };
        trigger.SetAction(act((c, p, ct) => TriggerAsync(c, p.GetValue(id)!, p.GetValue(param) ?? [], p.GetValue(logicalDate), p.GetValue(wait), ct)));
        dags.Add(trigger);
        dags.Add(BackfillCommands.BuildDagBackfill(act));

        return dags;
    }

    /// <summary>The page size a list asks for (<c>--page-size</c>); the CLI follows the pages itself.</summary>
    internal static Option<int> PageSizeOption() => new("--page-size")
    {
        Description = "Items asked for per request (1-1000); every page is read either way",
        DefaultValueFactory = _ => 500,
    };

    private static async Task<int> ListAsync(CliContext c, string path, int pageSize, int? limit, CancellationToken ct)
    {
        var dags = await c.Api.GetAllAsync(path, pageSize, limit, ct);
        if (c.Json)
        {
            c.WriteJson(dags);
            return ExitCodes.Ok;
        }
        var table = new TextTable("DAG", "PAUSED", "SCHEDULE", "TIMEZONE", "NEXT RUN", "LAST RUN", "PROBLEMS");
        foreach (var dag in dags)
        {
            table.Add(
                dag.Str("dagId"),
                dag.Str("paused") == "true" ? "yes" : "no",
                dag.Str("schedule") ?? "manual",
                dag.Str("timezone"),
                CliApp.Time(dag.Str("nextRunAt")),
                dag.Str("lastRunState") ?? "-",
                dag.Items("loadErrors").Count() is var n and > 0 ? $"{n} (file refused)" : "");
        }
        table.WriteTo(c.Out);
        return ExitCodes.Ok;
    }

    private static async Task<int> ShowAsync(CliContext c, string dagId, CancellationToken ct)
    {
        var dag = await c.Api.GetAsync($"api/v1/dags/{ApiClient.Segment(dagId)}", ct);
        if (c.Json)
        {
            c.WriteJson(dag);
            return ExitCodes.Ok;
        }
        var facts = new TextTable("DAG", dag.Str("dagId") ?? dagId);
        facts.Add("description", dag.Str("description") ?? "-");
        facts.Add("owner", dag.Str("owner") ?? "-");
        facts.Add("paused", dag.Str("paused") == "true" ? "yes" : "no");
        facts.Add("schedule", $"{dag.Str("schedule") ?? "manual"} ({dag.Str("timezone")})");
        facts.Add("next run", CliApp.Time(dag.Str("nextRunAt")));
        facts.Add("last run", dag.Str("lastRunState") ?? "-");
        facts.Add("active runs", $"{dag.Str("activeRuns")} running, {dag.Str("queuedRuns")} queued");
        facts.Add("file", dag.Str("sourceFile"));
        if (dag.TryGetProperty("budget", out var budget) && budget.ValueKind == System.Text.Json.JsonValueKind.Object)
        {
            var spent = decimal.Parse(budget.Str("spentUsd") ?? "0", System.Globalization.CultureInfo.InvariantCulture);
            facts.Add("budget", $"${spent:0.00} of ${budget.Str("monthlyUsd")} in {budget.Str("month")} ({budget.Str("percent")} %)"
                + (budget.Str("pauseOnExceed") == "true" ? ", pauses at 100 %" : "")
                + (budget.Str("pausedByBudget") == "true" ? "; paused by the budget" : ""));
        }
        facts.WriteTo(c.Out);
        foreach (var problem in dag.Items("loadErrors"))
        {
            await c.Out.WriteLineAsync($"refused: {problem}");
        }

        await c.Out.WriteLineAsync();
        var tasks = new TextTable("TASK", "BACKEND", "UPSTREAM", "TRIGGER RULE", "RETRIES", "TIMEOUT");
        foreach (var task in dag.Items("tasks"))
        {
            tasks.Add(
                task.Str("taskId"),
                task.Str("backend"),
                string.Join(',', task.Items("upstream").Select(u => u.GetString())) is { Length: > 0 } up ? up : "-",
                task.Str("triggerRule"),
                task.Str("retries"),
                task.Str("timeout") ?? "-");
        }
        tasks.WriteTo(c.Out);

        if (dag.Items("recentRuns").Any())
        {
            await c.Out.WriteLineAsync();
            RunCommands.RunTable(dag.Items("recentRuns")).WriteTo(c.Out);
        }
        return ExitCodes.Ok;
    }

    private static async Task<int> ApplyAsync(CliContext c, string[] files, CancellationToken ct)
    {
        var refused = 0;
        var results = new List<object>();
        foreach (var file in files)
        {
            string text;
            try
            {
                text = await File.ReadAllTextAsync(file, ct);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                await c.Error.WriteLineAsync($"{file}:1: cannot read the file: {ex.Message}");
                refused++;
                results.Add(new { file, applied = false, errors = new[] { ex.Message } });
                continue;
            }

            var dagId = DagIdOf(file, text);
            try
            {
                var dag = await c.Api.PutYamlAsync($"api/v1/dags/{ApiClient.Segment(dagId)}", text, ct);
                results.Add(new { file, applied = true, dagId, version = dag.Str("version") });
                if (!c.Json)
                {
                    await c.Out.WriteLineAsync($"{file}: applied {dagId} ({dag.Items("tasks").Count()} tasks)");
                }
            }
            catch (ApiException ex) when (ex.Errors.Count > 0)
            {
                refused++;
                // The server names the file after the DAG id; the user knows it by its path.
                var errors = ex.Errors.Select(e => e.StartsWith($"{dagId}.yaml:", StringComparison.Ordinal) ? file + e[(dagId.Length + 5)..] : e).ToArray();
                foreach (var problem in errors)
                {
                    await c.Error.WriteLineAsync(problem);
                }
                results.Add(new { file, applied = false, dagId, errors });
            }
        }
        if (c.Json)
        {
            c.WriteJson(results);
        }
        if (refused > 0)
        {
            await c.Error.WriteLineAsync($"{refused} of {files.Length} file(s) refused");
        }
        return refused == 0 ? ExitCodes.Ok : ExitCodes.Failed;
    }

    /// <summary>The DAG's id: the file's top-level <c>id:</c>, else its name without extension (as the server's loader does).</summary>
    internal static string DagIdOf(string file, string text)
    {
        var match = IdLine().Match(text);
        return match.Success ? match.Groups[1].Value : Path.GetFileNameWithoutExtension(file);
    }

    [GeneratedRegex("""^id:[ \t]*["']?([A-Za-z0-9_.-]+)["']?[ \t]*(?:#.*)?$""", RegexOptions.Multiline)]
    private static partial Regex IdLine();

    private static async Task<int> TriggerAsync(CliContext c, string dagId, string[] parameters, string? logicalDate, bool wait, CancellationToken ct)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var parameter in parameters)
        {
            var equals = parameter.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0)
            {
                await c.Error.WriteLineAsync($"error: --param '{parameter}' is not NAME=VALUE");
                return ExitCodes.Failed;
            }
            values[parameter[..equals]] = parameter[(equals + 1)..];
        }
        var body = new Dictionary<string, object?> { ["params"] = values };
        if (logicalDate is not null)
        {
            body["logical_date"] = logicalDate;
        }

        var run = await c.Api.PostAsync($"api/v1/dags/{ApiClient.Segment(dagId)}/runs", body, ct);
        var runId = run.Str("runId")!;
        if (!wait)
        {
            return await c.DoneAsync(run, $"triggered {dagId} run {runId} ({run.Str("state")})");
        }

        if (!c.Json)
        {
            await c.Out.WriteLineAsync($"triggered {dagId} run {runId}; waiting for it to end");
        }
        var final = await RunCommands.WaitAsync(c, dagId, runId, run, ct);
        var state = final.Str("state");
        if (c.Json)
        {
            c.WriteJson(final);
        }
        else
        {
            await c.Out.WriteLineAsync($"run {runId} {state}");
        }
        return RunCommands.ExitCodeOf(state);
    }
}
