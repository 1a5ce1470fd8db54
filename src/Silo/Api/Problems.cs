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
        var status = failure.Kind switch
        {
            FailureKind.NotFound => StatusCodes.Status404NotFound,
            FailureKind.Conflict => StatusCodes.Status409Conflict,
            _ => StatusCodes.Status400BadRequest,
        };
        // An invalid DAG's answer is its list of problems, as DESIGN.md shows it (title, status, errors).
        return failure.Kind == FailureKind.InvalidDag || !failure.Errors.IsEmpty
            ? TypedResults.Problem(
                title: failure.Title,
                detail: failure.Kind == FailureKind.InvalidDag ? null : failure.Detail,
                statusCode: status,
                extensions: new Dictionary<string, object?> { ["errors"] = failure.Errors.ToArray() })
            : TypedResults.Problem(title: failure.Title, detail: failure.Detail, statusCode: status);
    }

    /// <summary>200 with the value, or the failure's problem.</summary>
    public static IResult OkOr<T>(Outcome<T> outcome) =>
        outcome.Failure is { } failure ? From(failure) : TypedResults.Ok(outcome.Value);
}
