using System.CommandLine;
using System.Globalization;
using System.Text.Json;

namespace Batchyard.Cli;

/// <summary><c>batchyard costs [--from T] [--to T] [--by dag|owner|tag|instance_type|day]</c>: a table of costs with a total line.</summary>
internal static class CostCommands
{
    public static Command Build(ActionFactory act)
    {
        var from = new Option<string?>("--from") { Description = "First day or time counted (ISO-8601); default: the start of this month (UTC)" };
        var to = new Option<string?>("--to") { Description = "Last day counted (a date counts whole) or the time it ends (ISO-8601); default: the end of this month (UTC)" };
        var by = new Option<string>("--by") { Description = "Group by dag, owner, tag, instance_type or day", DefaultValueFactory = _ => "dag" };
        var costs = new Command("costs", "What the attempts that ended in a range cost, in USD and compute-seconds, grouped") { from, to, by };
        costs.SetAction(act(async (c, p, ct) =>
        {
            var query = new List<string> { $"group_by={Uri.EscapeDataString(p.GetValue(by)!)}" };
            if (p.GetValue(from) is { } f)
            {
                query.Add($"from={Uri.EscapeDataString(f)}");
            }
            if (p.GetValue(to) is { } t)
            {
                query.Add($"to={Uri.EscapeDataString(t)}");
            }
            var report = await c.Api.GetAsync("api/v1/costs?" + string.Join('&', query), ct);
            if (c.Json)
            {
                c.WriteJson(report);
                return ExitCodes.Ok;
            }
            c.Out.WriteLine($"{CliApp.Time(report.Str("from"))} to {CliApp.Time(report.Str("to"))} UTC, by {report.Str("groupBy")}");
            Table(report, report.Str("groupBy")?.ToUpperInvariant() ?? "GROUP").WriteTo(c.Out);
            return ExitCodes.Ok;
        }));
        return costs;
    }

    /// <summary>One row per group, then the total (which counts each attempt once, also when a DAG is in several tags' groups).</summary>
    internal static TextTable Table(JsonElement report, string keyHeader)
    {
        var table = new TextTable(keyHeader, "USD", "COMPUTE-S", "ATTEMPTS", "UNPRICED");
        foreach (var group in report.Items("groups"))
        {
            Add(table, group.Str("key") ?? "", group);
        }
        if (report.TryGetProperty("total", out var total))
        {
            Add(table, "TOTAL", total);
        }
        return table;
    }

    private static void Add(TextTable table, string key, JsonElement group) =>
        table.Add(key, Usd(group.Str("usd")), Number(group.Str("computeSeconds"), "0.#"), group.Str("attempts") ?? "0", group.Str("unpricedAttempts") ?? "0");

    internal static string Usd(string? value) =>
        decimal.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var usd) ? usd.ToString("0.00####", CultureInfo.InvariantCulture) : "-";

    private static string Number(string? value, string format) =>
        double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var number) ? number.ToString(format, CultureInfo.InvariantCulture) : "-";
}
