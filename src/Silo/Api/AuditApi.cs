namespace Batchyard.Silo.Api;

/// <summary><c>/api/v1/audit</c>: who changed what, newest first (admin keys only).</summary>
public static class AuditApi
{
    public static RouteGroupBuilder MapAuditApi(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/api/v1/audit").WithTags("Audit");
        group.MapGet("/", ListAsync).WithSummary("Who did what: key name, action, target, time, outcome (admin only)");
        return group;
    }

    private static async Task<IResult> ListAsync(int? limit, DateTimeOffset? before, HttpContext context, ApiOperations api, CancellationToken cancellationToken)
    {
        var outcome = await api.ListAuditAsync(Hosting.ApiKeyAuthentication.CallerOf(context), limit, before, cancellationToken);
        return outcome.Failure is { } failure
            ? Problems.From(failure)
            : TypedResults.Ok(outcome.Value.Select(e => new AuditView(e.Id, e.At, e.KeyName, e.Action, e.Target, e.DagId, e.RunId, e.TaskId, e.Outcome, e.Status, e.Detail)));
    }
}

/// <summary>An audit entry as the API shows it.</summary>
public sealed record AuditView(long Id, DateTimeOffset At, string KeyName, string Action, string Target, string DagId, string? RunId, string? TaskId, string Outcome, int Status, string? Detail);
