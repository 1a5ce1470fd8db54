namespace Batchyard.Silo.Api;

/// <summary><c>/api/v1/dags/{dagId}/runs/{runId}/notifications</c>: how the run's notifications were delivered.</summary>
public static class NotificationsApi
{
    public static RouteGroupBuilder MapNotificationsApi(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/api/v1/dags/{dagId}/runs/{runId}/notifications").WithTags("Notifications");
        group.MapGet("/", async (string dagId, string runId, HttpContext context, ApiOperations api, CancellationToken cancellationToken) =>
            PagedResults.OkOr(await api.ListRunNotificationsAsync(Hosting.ApiKeyAuthentication.CallerOf(context), dagId, runId, cancellationToken)))
            .Produces<NotificationDeliveryView[]>()
            .WithSummary("The run's notifications, one entry per notifier: state (pending, delivered, failed), attempts, last error, delivered at");
        return group;
    }
}
