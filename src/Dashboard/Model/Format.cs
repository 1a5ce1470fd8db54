using System.Globalization;

namespace Batchyard.Dashboard.Model;

/// <summary>How times, durations and failures read on the dashboard (times in UTC, as the API writes them).</summary>
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

    /// <summary>"0.42 USD" (to the cent; up to six places under a cent), "—" when nothing is priced.</summary>
    public static string Usd(decimal? usd) =>
        usd is { } v ? v.ToString(Math.Abs(v) < 0.01m ? "0.00####" : "0.00", CultureInfo.InvariantCulture) + " USD" : "—";

    public static string Time(DateTimeOffset? time) =>
        time is { } t ? t.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) + " UTC" : "—";

    public static string ShortTime(DateTimeOffset time) =>
        time.UtcDateTime.ToString("MM-dd HH:mm:ss", CultureInfo.InvariantCulture);

    /// <summary>"in 3h 12m" or "5m 02s ago".</summary>
    public static string Relative(DateTimeOffset time, DateTimeOffset now) =>
        time >= now ? "in " + Duration(time - now) : Duration(now - time) + " ago";

    /// <summary>What a failure says on a page: a failover in plain words (it passes by itself), else the exception's message.</summary>
    public static string Error(Exception exception) =>
        TransientFaults.IsTransient(exception)
            ? "the cluster cannot answer right now (a silo may be failing over); try again in a moment"
            : exception?.Message ?? "";
}
