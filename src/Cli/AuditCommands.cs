using System.CommandLine;
using System.Globalization;

namespace Batchyard.Cli;

/// <summary><c>batchyard audit [--limit N] [--before T]</c>: who changed what, newest first (an admin key).</summary>
internal static class AuditCommands
{
    public static Command Build(ActionFactory act)
    {
        var limit = new Option<int?>("--limit") { Description = "At most this many entries (1-1000, default 50)" };
        var before = new Option<string?>("--before") { Description = "Only entries recorded before this time (ISO-8601), to page back" };
        var audit = new Command("audit", "Who did what: key name, action, target, time and outcome, newest first (admin keys only)") { limit, before };
        audit.SetAction(act(async (c, p, ct) =>
        {
            var query = new List<string>();
            if (p.GetValue(limit) is { } l)
            {
                query.Add($"limit={l.ToString(CultureInfo.InvariantCulture)}");
            }
            if (p.GetValue(before) is { } b)
            {
                query.Add($"before={Uri.EscapeDataString(b)}");
            }
            var result = await c.Api.GetAsync("api/v1/audit" + (query.Count > 0 ? "?" + string.Join('&', query) : ""), ct);
            if (c.Json)
            {
                c.WriteJson(result);
                return ExitCodes.Ok;
            }
            var table = new TextTable("TIME", "KEY", "ACTION", "TARGET", "OUTCOME", "STATUS");
            foreach (var entry in result.Items())
            {
                table.Add(CliApp.Time(entry.Str("at")), entry.Str("keyName"), entry.Str("action"), entry.Str("target"), entry.Str("outcome"), entry.Str("status"));
            }
            table.WriteTo(c.Out);
            return ExitCodes.Ok;
        }));
        return audit;
    }
}
