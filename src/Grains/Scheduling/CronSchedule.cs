using Cronos;

namespace Batchyard.Scheduling;

/// <summary>A cron expression read in a time zone; occurrences are DST-safe (Cronos' rules).</summary>
public sealed class CronSchedule
{
    private static readonly Dictionary<string, string> Macros = new(StringComparer.OrdinalIgnoreCase)
    {
        ["@yearly"] = "0 0 1 1 *",
        ["@annually"] = "0 0 1 1 *",
        ["@monthly"] = "0 0 1 * *",
        ["@weekly"] = "0 0 * * 0",
        ["@daily"] = "0 0 * * *",
        ["@midnight"] = "0 0 * * *",
        ["@hourly"] = "0 * * * *",
    };

    private readonly CronExpression _expression;

    private CronSchedule(string text, CronExpression expression, TimeZoneInfo zone)
    {
        Text = text;
        _expression = expression;
        Zone = zone;
    }

    public string Text { get; }

    /// <summary>The five-field expression a macro such as <c>@daily</c> stands for; null for anything else.</summary>
    public static string? ExpandMacro(string text) => Macros.GetValueOrDefault(text.Trim());

    public TimeZoneInfo Zone { get; }

    /// <summary>Parses 5 fields (minute first), 6 fields (seconds first) or a macro; returns null and an error otherwise.</summary>
    public static CronSchedule? TryParse(string text, string timeZone, out string? error)
    {
        error = null;
        TimeZoneInfo zone;
        try
        {
            zone = TimeZoneInfo.FindSystemTimeZoneById(timeZone);
        }
        catch (Exception ex) when (ex is TimeZoneNotFoundException or InvalidTimeZoneException)
        {
            error = $"unknown time zone '{timeZone}'";
            return null;
        }

        var trimmed = text.Trim();
        var expanded = Macros.TryGetValue(trimmed, out var macro) ? macro : trimmed;
        if (expanded.StartsWith('@'))
        {
            error = $"unknown cron macro '{trimmed}' (use @hourly, @daily, @weekly, @monthly or @yearly)";
            return null;
        }

        var fields = expanded.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length;
        if (fields is not (5 or 6))
        {
            error = $"bad cron '{trimmed}': expected 5 or 6 fields, found {fields}";
            return null;
        }

        try
        {
            var format = fields == 6 ? CronFormat.IncludeSeconds : CronFormat.Standard;
            return new CronSchedule(trimmed, CronExpression.Parse(expanded, format), zone);
        }
        catch (CronFormatException ex)
        {
            error = $"bad cron '{trimmed}': {ex.Message}";
            return null;
        }
    }

    /// <summary>The first slot strictly after <paramref name="after"/>, or null when there is none.</summary>
    public DateTimeOffset? NextAfter(DateTimeOffset after) =>
        _expression.GetNextOccurrence(after, Zone, inclusive: false)?.ToUniversalTime();

    /// <summary>Slots in (<paramref name="after"/>, <paramref name="until"/>], oldest first.</summary>
    public IEnumerable<DateTimeOffset> Between(DateTimeOffset after, DateTimeOffset until)
    {
        var next = NextAfter(after);
        while (next is { } slot && slot <= until)
        {
            yield return slot;
            next = NextAfter(slot);
        }
    }
}
