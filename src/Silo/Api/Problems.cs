namespace Batchyard.Silo.Api;

/// <summary>RFC 7807 answers used across the API.</summary>
public static class Problems
{
    public static IResult NotFound(string detail) =>
        TypedResults.Problem(title: "Not found", detail: detail, statusCode: StatusCodes.Status404NotFound);

    public static IResult Conflict(string detail) =>
        TypedResults.Problem(title: "Conflict", detail: detail, statusCode: StatusCodes.Status409Conflict);

    public static IResult BadRequest(string title, string detail) =>
        TypedResults.Problem(title: title, detail: detail, statusCode: StatusCodes.Status400BadRequest);

    public static IResult InvalidDag(IEnumerable<string> errors) =>
        TypedResults.Problem(
            title: "Invalid DAG",
            statusCode: StatusCodes.Status400BadRequest,
            extensions: new Dictionary<string, object?> { ["errors"] = errors.ToArray() });
}
