using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Batchyard.Cli;

/// <summary><c>batchyard dags backfill ID --from --to …</c> and <c>batchyard backfills list|show|cancel</c>.</summary>
internal static class BackfillCommands
{
    /// <summary>The width of the progress bar drawn on a terminal.</summary>
    private const int BarWidth = 30;

    /// <summary><c>dags backfill</c>: creates the backfill and, with <c>--wait</c>, follows it to its end.</summary>
    public static Command BuildDagBackfill(ActionFactory act)
    {
        var id = new Argument<string>("ID") { Description = "The DAG's id" };
        var from = new Option<string>("--from") { Description = "The first slot's earliest time: a date (2026-01-01: from its midnight, UTC) or an ISO-8601 time", Required = true };
        var to = new Option<string>("--to") { Description = "The last slot's latest time, inclusive: a date (counts that UTC day whole) or an ISO-8601 time", Required = true };
        var reprocess = new Option<string>("--reprocess")
        {
            Description = "What to do with a slot that has a run: missing (leave it), failed (clear a failed run's failed tasks), all (clear every task)",
            DefaultValueFactory = _ => "missing",
        };
        reprocess.AcceptOnlyFromAmong("missing", "failed", "all");
        var maxActive = new Option<int?>("--max-active-runs") { Description = "At most this many of its runs unfinished at once (default: the DAG's max_active_runs)" };
        maxActive.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int?>() is < 1)
            {
                r.AddError("--max-active-runs must be at least 1");
            }
        });
        var backwards = new Option<bool>("--backwards") { Description = "Newest slot first" };
        var wait = new Option<bool>("--wait", "-w") { Description = "Show progress and exit with the outcome: 0 every run succeeded, 1 a run failed, 2 cancelled" };
        var backfill = new Command("backfill", "Make one run per cron slot in [--from, --to] (at most 10,000 slots)") { id, from, to, reprocess, maxActive, backwards, wait };
        backfill.SetAction(act(async (c, p, ct) =>
        {
            var dagId = p.GetValue(id)!;
            if (Time(p.GetValue(from)!, endOfDay: false) is not { } start || Time(p.GetValue(to)!, endOfDay: true) is not { } end)
            {
                await c.Error.WriteLineAsync("error: --from and --to must be dates (2026-01-01) or ISO-8601 times (2026-01-01T06:00:00Z)");
                return ExitCodes.Failed;
            }
            var body = new Dictionary<string, object?>
            {
                ["from"] = start,
                ["to"] = end,
                ["reprocess"] = p.GetValue(reprocess),
                ["backwards"] = p.GetValue(backwards),
            };
            if (p.GetValue(maxActive) is { } max)
            {
                body["max_active_runs"] = max;
            }
            var created = await c.Api.PostAsync(BackfillsPath(dagId), body, ct);
            var backfillId = created.Str("backfillId")!;
            if (!p.GetValue(wait))
            {
                return await c.DoneAsync(created, $"backfill {backfillId} of {dagId}: {created.Str("total")} slot(s)");
            }
            if (!c.Json)
            {
                await c.Out.WriteLineAsync($"backfill {backfillId} of {dagId}: {created.Str("total")} slot(s); waiting for it to end");
            }
            var final = await WaitAsync(c, dagId, backfillId, created, ct);
            if (c.Json)
            {
                c.WriteJson(final);
            }
            else
            {
                await c.Out.WriteLineAsync($"backfill {backfillId} {final.Str("state")}: {Counts(final)}");
            }
            return RunCommands.ExitCodeOf(final.Str("state"));
        }));
        return backfill;
    }

    /// <summary><c>backfills list ID|show ID BACKFILL|cancel ID BACKFILL</c>.</summary>
    public static Command Build(ActionFactory act)
    {
        var backfills = new Command("backfills", "List, show and cancel a DAG's backfills");
        var id = new Argument<string>("ID") { Description = "The DAG's id" };
        var backfillId = new Argument<string>("BACKFILL") { Description = "The backfill's id" };

        var limit = new Option<int?>("--limit") { Description = "At most this many backfills (default 25; more than a page is read page by page)" };
        var all = new Option<bool>("--all") { Description = "Every backfill of the DAG, page by page" };
        var pageSize = DagCommands.PageSizeOption();
        var list = new Command("list", "A DAG's backfills, newest first, with their progress") { id, limit, all, pageSize };
        list.SetAction(act(async (c, p, ct) =>
        {
            int? max = p.GetValue(all) ? p.GetValue(limit) : p.GetValue(limit) ?? 25;
            var items = await c.Api.GetAllAsync(BackfillsPath(p.GetValue(id)!), Math.Min(p.GetValue(pageSize), max ?? int.MaxValue), max, ct);
            if (c.Json)
            {
                c.WriteJson(items);
                return ExitCodes.Ok;
            }
            var table = new TextTable("BACKFILL", "STATE", "FROM", "TO", "REPROCESS", "TOTAL", "CREATED", "RUNNING", "SUCCEEDED", "FAILED", "SKIPPED");
            foreach (var b in items)
            {
                table.Add(b.Str("backfillId"), b.Str("state"), CliApp.Time(b.Str("from")), CliApp.Time(b.Str("to")), b.Str("reprocess"),
                    b.Str("total"), b.Str("created"), b.Str("running"), b.Str("succeeded"), b.Str("failed"), b.Str("skipped"));
            }
            table.WriteTo(c.Out);
            return ExitCodes.Ok;
        }));
        backfills.Add(list);

        var show = new Command("show", "One backfill and its progress") { id, backfillId };
        show.SetAction(act(async (c, p, ct) =>
        {
            var backfill = await c.Api.GetAsync(BackfillPath(p.GetValue(id)!, p.GetValue(backfillId)!), ct);
            if (c.Json)
            {
                c.WriteJson(backfill);
                return ExitCodes.Ok;
            }
            var facts = new TextTable("BACKFILL", backfill.Str("backfillId") ?? "");
            facts.Add("dag", backfill.Str("dagId"));
            facts.Add("state", backfill.Str("state"));
            facts.Add("range", $"{CliApp.Time(backfill.Str("from"))} to {CliApp.Time(backfill.Str("to"))}");
            facts.Add("reprocess", backfill.Str("reprocess"));
            facts.Add("max active runs", backfill.Str("maxActiveRuns"));
            facts.Add("order", backfill.Str("backwards") == "true" ? "newest first" : "oldest first");
            facts.Add("progress", Counts(backfill));
            facts.Add("created by", backfill.Str("createdBy") ?? "-");
            facts.Add("created", CliApp.Time(backfill.Str("createdAt")));
            facts.Add("ended", CliApp.Time(backfill.Str("endedAt")));
            facts.WriteTo(c.Out);
            return ExitCodes.Ok;
        }));
        backfills.Add(show);

        var cancel = new Command("cancel", "Make no more runs and cancel the backfill's unfinished ones") { id, backfillId };
        cancel.SetAction(act(async (c, p, ct) =>
        {
            var backfill = await c.Api.PostAsync(BackfillPath(p.GetValue(id)!, p.GetValue(backfillId)!) + "/cancel", null, ct);
            return await c.DoneAsync(backfill, $"backfill {backfill.Str("backfillId")} {backfill.Str("state")}");
        }));
        backfills.Add(cancel);
        return backfills;
    }

    /// <summary>
    /// Follows a backfill until it ends: on a terminal, one progress bar redrawn in place; otherwise one line each
    /// time its counts change (nothing in JSON mode). Returns the final backfill.
    /// </summary>
    internal static async Task<JsonElement> WaitAsync(CliContext c, string dagId, string backfillId, JsonElement backfill, CancellationToken ct)
    {
        string? shown = null;
        while (true)
        {
            var line = ProgressLine(backfill, c.Terminal);
            if (!c.Json && line != shown)
            {
                await c.Out.WriteAsync(c.Terminal ? "\r" + line : line + Environment.NewLine);
                shown = line;
            }
            if (backfill.Str("state") is not "running")
            {
                if (c.Terminal && !c.Json)
                {
                    await c.Out.WriteLineAsync();
                }
                return backfill;
            }
            await Task.Delay(c.PollInterval, ct);
            backfill = await c.Api.GetAsync(BackfillPath(dagId, backfillId), ct);
        }
    }

    /// <summary>One line of progress: with a bar of the slots done (succeeded, failed or skipped) on a terminal.</summary>
    internal static string ProgressLine(JsonElement backfill, bool bar)
    {
        var total = Int(backfill, "total");
        var done = Int(backfill, "succeeded") + Int(backfill, "failed") + Int(backfill, "skipped");
        var text = $"{done}/{total} done: {Counts(backfill)}";
        if (!bar)
        {
            return "  " + text;
        }
        var filled = total == 0 ? BarWidth : (int)Math.Round(BarWidth * (double)done / total);
        return new StringBuilder("[").Append('#', filled).Append('.', BarWidth - filled).Append("] ").Append(text).ToString();
    }

    private static string Counts(JsonElement b) =>
        $"{b.Str("created")} created, {b.Str("running")} running, {b.Str("succeeded")} succeeded, {b.Str("failed")} failed, {b.Str("skipped")} skipped of {b.Str("total")}";

    private static int Int(JsonElement element, string name) =>
        int.TryParse(element.Str(name), NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) ? value : 0;

    /// <summary>
    /// An ISO-8601 time, or a date: its UTC midnight, or with <paramref name="endOfDay"/> its last instant (as
    /// <c>costs --to</c> counts a date whole), as the ISO-8601 UTC text the API reads; null when it is neither.
    /// </summary>
    internal static string? Time(string text, bool endOfDay)
    {
        if (DateOnly.TryParseExact(text.Trim(), "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var date))
        {
            var midnight = new DateTimeOffset(date.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero);
            return (endOfDay ? midnight.AddDays(1).AddTicks(-1) : midnight).UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffffffZ", CultureInfo.InvariantCulture);
        }
        return DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at)
            ? at.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffffffZ", CultureInfo.InvariantCulture)
            : null;
    }

    private static string BackfillsPath(string dagId) => $"api/v1/dags/{ApiClient.Segment(dagId)}/backfills";

    private static string BackfillPath(string dagId, string backfillId) => $"{BackfillsPath(dagId)}/{ApiClient.Segment(backfillId)}";
}
