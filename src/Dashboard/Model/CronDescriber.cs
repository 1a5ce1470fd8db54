using System.Globalization;

namespace Batchyard.Dashboard.Model;

/// <summary>
/// Says a cron schedule in words for the common shapes ("every day at 03:00 Asia/Tokyo"); anything else is
/// shown as the expression itself, so the describer never guesses wrong about an unusual schedule.
/// </summary>
public static class CronDescriber
{
    private static readonly string[] DayNames = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];

    /// <summary>The schedule in words with its time zone; "manual only" for a DAG without a schedule.</summary>
    public static string Describe(string? schedule, string? timeZone)
    {
        if (string.IsNullOrWhiteSpace(schedule))
        {
            return "manual only";
        }
        var words = DescribeExpression(schedule);
        var zone = string.IsNullOrWhiteSpace(timeZone) ? "UTC" : timeZone;
        return words is null ? $"cron {schedule.Trim()} ({zone})" : $"{words} {zone}";
    }

    /// <summary>The expression in words without the zone, or null when it is not one of the shapes known here.</summary>
    public static string? DescribeExpression(string schedule)
    {
        var text = schedule.Trim();
        if (Batchyard.Scheduling.CronSchedule.ExpandMacro(text) is { } expanded)
        {
            text = expanded;
        }
        var fields = text.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (fields.Length == 6)
        {
            // Seconds first: only describe it when it fires at second 0, as the 5-field form would.
            if (fields[0] != "0")
            {
                return null;
            }
            fields = fields[1..];
        }
        if (fields.Length != 5)
        {
            return null;
        }
        var (minute, hour, dayOfMonth, month, dayOfWeek) = (fields[0], fields[1], fields[2], fields[3], fields[4]);

        if (month != "*")
        {
            return IsNumber(month, 1, 12, out var m) && IsNumber(dayOfMonth, 1, 31, out var d) && dayOfWeek is "*" or "?"
                && TimeOfDay(minute, hour) is { } yearlyTime
                ? $"every year on {CultureInfo.InvariantCulture.DateTimeFormat.GetMonthName(m)} {d} at {yearlyTime}"
                : null;
        }

        if (minute == "*" && hour == "*" && dayOfMonth is "*" or "?" && dayOfWeek is "*" or "?")
        {
            return "every minute";
        }
        if (Step(minute) is { } everyMinutes && hour == "*" && dayOfMonth is "*" or "?" && dayOfWeek is "*" or "?")
        {
            return everyMinutes == 1 ? "every minute" : $"every {everyMinutes} minutes";
        }
        if (IsNumber(minute, 0, 59, out var atMinute) && dayOfMonth is "*" or "?" && dayOfWeek is "*" or "?")
        {
            if (hour == "*")
            {
                return $"every hour at :{atMinute:00}";
            }
            if (Step(hour) is { } everyHours)
            {
                return everyHours == 1 ? $"every hour at :{atMinute:00}" : $"every {everyHours} hours at :{atMinute:00}";
            }
        }

        if (TimeOfDay(minute, hour) is not { } time)
        {
            return null;
        }
        if (dayOfMonth is "*" or "?" && dayOfWeek is "*" or "?")
        {
            return $"every day at {time}";
        }
        if (dayOfMonth is "*" or "?" && Days(dayOfWeek) is { } days)
        {
            return days == "Monday to Friday" ? $"every weekday at {time}" : $"every {days} at {time}";
        }
        if (dayOfWeek is "*" or "?" && IsNumber(dayOfMonth, 1, 31, out var day))
        {
            return day == 1 ? $"on the 1st of every month at {time}" : $"on day {day} of every month at {time}";
        }
        if (dayOfWeek is "*" or "?" && dayOfMonth == "L")
        {
            return $"on the last day of every month at {time}";
        }
        return null;
    }

    private static string? TimeOfDay(string minute, string hour) =>
        IsNumber(minute, 0, 59, out var m) && IsNumber(hour, 0, 23, out var h) ? $"{h:00}:{m:00}" : null;

    /// <summary><c>*/N</c> (or <c>0/N</c>) as N.</summary>
    private static int? Step(string field)
    {
        var slash = field.IndexOf('/', StringComparison.Ordinal);
        if (slash < 0 || field[..slash] is not ("*" or "0"))
        {
            return null;
        }
        return int.TryParse(field[(slash + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var step) && step > 0 ? step : null;
    }

    /// <summary>A day-of-week field of single days, lists and ranges (numbers or names), in words.</summary>
    private static string? Days(string field)
    {
        var parts = new List<string>();
        foreach (var part in field.Split(','))
        {
            var dash = part.IndexOf('-', StringComparison.Ordinal);
            if (dash > 0)
            {
                if (DayIndex(part[..dash]) is not { } from || DayIndex(part[(dash + 1)..]) is not { } to)
                {
                    return null;
                }
                parts.Add(from == 1 && to == 5 ? "Monday to Friday" : $"{DayNames[from]} to {DayNames[to]}");
            }
            else if (DayIndex(part) is { } single)
            {
                parts.Add(DayNames[single]);
            }
            else
            {
                return null;
            }
        }
        return parts.Count switch
        {
            1 => parts[0],
            _ => string.Join(", ", parts[..^1]) + " and " + parts[^1],
        };
    }

    private static int? DayIndex(string text)
    {
        if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var number))
        {
            return number is >= 0 and <= 7 ? number % 7 : null;
        }
        for (var i = 0; i < DayNames.Length; i++)
        {
            if (text.Length >= 3 && DayNames[i].StartsWith(text, StringComparison.OrdinalIgnoreCase))
            {
                return i;
            }
        }
        return null;
    }

    private static bool IsNumber(string field, int min, int max, out int value) =>
        int.TryParse(field, NumberStyles.None, CultureInfo.InvariantCulture, out value) && value >= min && value <= max;
}
