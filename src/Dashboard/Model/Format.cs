using System.Globalization;

namespace Batchyard.Dashboard.Model;

/// <summary>How times and durations read on the dashboard (UTC, as the API writes them).</summary>
public static class Format
{
    public static string Duration(TimeSpan span)
    {
        if (span < TimeSpan.Zero)
        {
            span = TimeSpan.Zero;
        }
        if (span.TotalSeconds < 1)
        {
            return $"{(int)span.TotalMilliseconds} ms";
        }
        if (span.TotalMinutes < 1)
        {
            return span.TotalSeconds.ToString(span.TotalSeconds < 10 ? "0.0" : "0", CultureInfo.InvariantCulture) + " s";
        }
        if (span.TotalHours < 1)
        {
            return $"{(int)span.TotalMinutes}m {span.Seconds:00}s";
        }
        if (span.TotalDays < 1)
        {
            return $"{(int)span.TotalHours}h {span.Minutes:00}m";
        }
        return $"{(int)span.TotalDays}d {span.Hours}h";
    }

    public static string Time(DateTimeOffset? time) =>
        time is { } t ? t.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) + " UTC" : "—";

    public static string ShortTime(DateTimeOffset time) =>
        time.UtcDateTime.ToString("MM-dd HH:mm:ss", CultureInfo.InvariantCulture);

    /// <summary>"in 3h 12m" or "5m 02s ago".</summary>
    public static string Relative(DateTimeOffset time, DateTimeOffset now) =>
        time >= now ? "in " + Duration(time - now) : Duration(now - time) + " ago";
}
