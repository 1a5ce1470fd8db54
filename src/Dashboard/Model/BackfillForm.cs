using System.Globalization;
using Batchyard.Grains;

namespace Batchyard.Dashboard.Model;

/// <summary>
/// What the Backfill dialog edits: text as typed (a date is UTC: from its midnight, to its end, as the CLI reads
/// them), turned into a <see cref="BackfillRequest"/>
/// or the one sentence that says what is wrong. The server checks the slots (none, over 10,000) itself.
/// </summary>
public sealed class BackfillForm
{
    public string From { get; set; } = "";
    public string To { get; set; } = "";
    public BackfillReprocess Reprocess { get; set; } = BackfillReprocess.Missing;
    /// <summary>Empty: the DAG's own <c>max_active_runs</c>.</summary>
    public int? MaxActiveRuns { get; set; }
    public bool Backwards { get; set; }

    /// <summary>The request, or null with <paramref name="error"/> saying why not.</summary>
    public BackfillRequest? ToRequest(out string? error)
    {
        error = null;
        if (Time(From, endOfDay: false) is not { } from)
        {
            error = $"from: '{From.Trim()}' is not a date (2026-01-01) or a time (2026-01-01T06:00:00Z)";
            return null;
        }
        if (Time(To, endOfDay: true) is not { } to)
        {
            error = $"to: '{To.Trim()}' is not a date (2026-01-30) or a time (2026-01-30T06:00:00Z)";
            return null;
        }
        if (from > to)
        {
            error = "from is after to";
            return null;
        }
        if (MaxActiveRuns is < 1)
        {
            error = "max active runs must be at least 1 (or empty for the DAG's own)";
            return null;
        }
        return new BackfillRequest { From = from, To = to, Reprocess = Reprocess, MaxActiveRuns = MaxActiveRuns, Backwards = Backwards };
    }

    private static DateTimeOffset? Time(string text, bool endOfDay)
    {
        if (DateOnly.TryParseExact(text.Trim(), "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var date))
        {
            var midnight = new DateTimeOffset(date.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero);
            return endOfDay ? midnight.AddDays(1).AddTicks(-1) : midnight;
        }
        return !string.IsNullOrWhiteSpace(text) && DateTimeOffset.TryParse(text.Trim(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at)
            ? at.ToUniversalTime()
            : null;
    }
}
