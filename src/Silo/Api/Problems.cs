namespace Batchyard.Silo.Api;

/// <summary>RFC 7807 answers used across the API.</summary>
public static class Problems
{
    public static IResult NotFound(string detail) => From(Failure.NotFound(detail));

    public static IResult Conflict(string detail) => From(Failure.Conflict(detail));

    public static IResult BadRequest(string title, string detail) => From(Failure.BadRequest(title, detail));

    public static IResult InvalidDag(IEnumerable<string> errors) => From(Failure.InvalidDag(errors));

    /// <summary>The problem+json answer for a refused operation; a refused DAG lists every problem in <c>errors</c>.</summary>
    public static IResult From(Failure failure)
    {
        ArgumentNullException.ThrowIfNull(failure);
        var status = failure.Status;
        // An invalid DAG's answer is its list of problems, as DESIGN.md shows it (title, status, errors).
        return failure.Kind == FailureKind.InvalidDag || !failure.Errors.IsEmpty
            ? TypedResults.Problem(
                title: failure.Title,
                detail: failure.Kind == FailureKind.InvalidDag ? null : failure.Detail,
                statusCode: status,
                extensions: new Dictionary<string, object?> { ["errors"] = failure.Errors.ToArray() })
            : TypedResults.Problem(title: failure.Title, detail: failure.Detail, statusCode: status);
    }

    /// <summary>
    /// 503 with <c>Retry-After</c> (whole seconds): the call met a transient fault (a silo failing over, the
    /// database refusing for a moment) and may succeed if made again after that delay.
    /// </summary>
    public static IResult Unavailable(string detail, TimeSpan retryAfter) =>
        new WithRetryAfter(TypedResults.Problem(title: "Service unavailable", detail: detail, statusCode: StatusCodes.Status503ServiceUnavailable), retryAfter);

    /// <summary>200 with the value, or the failure's problem.</summary>
    public static IResult OkOr<T>(Outcome<T> outcome) =>
        outcome.Failure is { } failure ? From(failure) : TypedResults.Ok(outcome.Value);
}

/// <summary>Another result, with a <c>Retry-After</c> header in whole seconds.</summary>
internal sealed class WithRetryAfter(IResult inner, TimeSpan retryAfter) : IResult
{
    public static string Seconds(TimeSpan delay) =>
        ((long)Math.Max(1, Math.Ceiling(delay.TotalSeconds))).ToString(System.Globalization.CultureInfo.InvariantCulture);

    public Task ExecuteAsync(HttpContext httpContext)
    {
        ArgumentNullException.ThrowIfNull(httpContext);
        httpContext.Response.Headers.RetryAfter = Seconds(retryAfter);
        return inner.ExecuteAsync(httpContext);
    }
}
