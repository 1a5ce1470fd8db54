using System.Buffers.Text;
using System.Collections.Immutable;
using System.Globalization;
using System.Text;
using Batchyard.History;

namespace Batchyard.Silo.Api;

/// <summary>A page of a list: its items, the cursor of the next page (null at the end) and, where known, how many match.</summary>
public sealed record Page<T>(ImmutableArray<T> Items, string? NextCursor, int? Total);

/// <summary>
/// List cursors: opaque to clients (base64url), each the position of the last item of a page, so that the next
/// page starts strictly after it and items added meanwhile neither repeat nor push others out. The kind is part
/// of the cursor, so that a cursor of one list is refused by another.
/// </summary>
public static class Cursors
{
    public const int MaxLimit = 1000;
    private const string DagKind = "dag";
    private const string RunKind = "run";
    private const string PoolKind = "pool";
    private const string DatasetKind = "dataset";
    private const string UpdateKind = "dataset-update";
    private const string BackfillKind = "backfill";

    /// <summary>The cursor after the DAG <paramref name="dagId"/> (DAGs are listed by id).</summary>
    public static string AfterDag(string dagId) => Encode(DagKind, dagId);

    /// <summary>The cursor after <paramref name="position"/> (runs are listed newest first).</summary>
    public static string AfterRun(RunPosition position)
    {
        ArgumentNullException.ThrowIfNull(position);
        return Encode(RunKind, position.LogicalDate.UtcTicks.ToString(CultureInfo.InvariantCulture), position.RunId);
    }

    /// <summary>The cursor after the pool <paramref name="name"/> (pools are listed by name).</summary>
    public static string AfterPool(string name) => Encode(PoolKind, name);

    /// <summary>The cursor after the backfill <paramref name="backfillId"/> (backfills are listed newest first).</summary>
    public static string AfterBackfill(string backfillId) => Encode(BackfillKind, backfillId);

    public static bool TryReadBackfill(string cursor, out string backfillId) => TryReadName(cursor, BackfillKind, out backfillId);

    public static bool TryReadDag(string cursor, out string dagId) => TryReadName(cursor, DagKind, out dagId);

    public static bool TryReadPool(string cursor, out string name) => TryReadName(cursor, PoolKind, out name);

    /// <summary>The cursor after the dataset <paramref name="name"/> (datasets are listed by name).</summary>
    public static string AfterDataset(string name) => Encode(DatasetKind, name);

    public static bool TryReadDataset(string cursor, out string name) => TryReadName(cursor, DatasetKind, out name);

    /// <summary>The cursor after a dataset's update <paramref name="seq"/> (updates are listed newest first).</summary>
    public static string AfterUpdate(long seq) => Encode(UpdateKind, seq.ToString(CultureInfo.InvariantCulture));

    public static bool TryReadUpdate(string cursor, out long seq)
    {
        seq = 0;
        return TryReadName(cursor, UpdateKind, out var text) && long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out seq);
    }

    private static bool TryReadName(string cursor, string kind, out string name)
    {
        name = "";
        if (Decode(cursor, kind) is [var value] && value.Length > 0)
        {
            name = value;
            return true;
        }
        return false;
    }

    public static bool TryReadRun(string cursor, out RunPosition position)
    {
        position = default!;
        if (Decode(cursor, RunKind) is [var ticks, var runId]
            && long.TryParse(ticks, NumberStyles.None, CultureInfo.InvariantCulture, out var utcTicks)
            && utcTicks <= DateTimeOffset.MaxValue.UtcTicks && runId.Length > 0)
        {
            position = new RunPosition(new DateTimeOffset(utcTicks, TimeSpan.Zero), runId);
            return true;
        }
        return false;
    }

    public static Failure InvalidCursor() => Failure.BadRequest("Invalid cursor", "cursor must be the nextCursor of an earlier page of this list");

    /// <summary>Null when <paramref name="limit"/> is absent or within 1..1000, else why it is refused.</summary>
    public static Failure? CheckLimit(int? limit) =>
        limit is < 1 or > MaxLimit ? Failure.BadRequest("Invalid limit", $"limit must be between 1 and {MaxLimit}") : null;

    private static string Encode(string kind, params string[] parts) =>
        Base64Url.EncodeToString(Encoding.UTF8.GetBytes(kind + "\n" + string.Join('\n', parts)));

    private static string[]? Decode(string cursor, string kind)
    {
        if (cursor.Length > 2048 || !Base64Url.IsValid(cursor))
        {
            return null;
        }
        string text;
        try
        {
            text = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(Base64Url.DecodeFromChars(cursor));
        }
        catch (Exception ex) when (ex is FormatException or ArgumentException)
        {
            return null;
        }
        var parts = text.Split('\n');
        return parts.Length > 1 && parts[0] == kind ? parts[1..] : null;
    }
}

/// <summary>
/// A page over HTTP: the body stays the bare JSON array a list always answered (so that no client breaks), and
/// the page's facts travel in headers, as GitHub's API does: <c>X-Next-Cursor</c> and <c>Link: &lt;…&gt;; rel="next"</c>
/// while there is a next page, <c>X-Total-Count</c> where the list knows how many match.
/// </summary>
internal sealed class PagedResult<T>(Page<T> page) : IResult
{
    public const string NextCursorHeader = "X-Next-Cursor";
    public const string TotalCountHeader = "X-Total-Count";

    public Task ExecuteAsync(HttpContext httpContext)
    {
        ArgumentNullException.ThrowIfNull(httpContext);
        var headers = httpContext.Response.Headers;
        if (page.NextCursor is { } next)
        {
            headers[NextCursorHeader] = next;
            headers.Link = $"<{NextUrl(httpContext.Request, next)}>; rel=\"next\"";
        }
        if (page.Total is { } total)
        {
            headers[TotalCountHeader] = total.ToString(CultureInfo.InvariantCulture);
        }
        return TypedResults.Ok(page.Items).ExecuteAsync(httpContext);
    }

    /// <summary>This request's path and query with the cursor of the next page.</summary>
    private static string NextUrl(HttpRequest request, string cursor)
    {
        var query = request.Query
            .Where(q => !string.Equals(q.Key, "cursor", StringComparison.OrdinalIgnoreCase))
            .SelectMany(q => q.Value.Select(v => new KeyValuePair<string, string?>(q.Key, v)))
            .Append(new KeyValuePair<string, string?>("cursor", cursor));
        return request.PathBase + request.Path + Microsoft.AspNetCore.Http.QueryString.Create(query).ToUriComponent();
    }
}

internal static class PagedResults
{
    /// <summary>200 with the page (see <see cref="PagedResult{T}"/>), or the failure's problem.</summary>
    public static IResult OkOr<T>(Outcome<Page<T>> outcome) =>
        outcome.Failure is { } failure ? Problems.From(failure) : new PagedResult<T>(outcome.Value!);
}
