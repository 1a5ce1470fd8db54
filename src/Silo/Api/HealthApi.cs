using Batchyard.Backends.Local;
using Batchyard.Silo.Loading;
using Orleans.Runtime;

namespace Batchyard.Silo.Api;

/// <summary><c>/healthz</c> (the process answers) and <c>/readyz</c> (silo joined, storage reachable, DAGs read).</summary>
public static class HealthApi
{
    public static void MapHealthApi(this IEndpointRouteBuilder routes)
    {
        routes.MapGet("/healthz", () => TypedResults.Ok(new { status = "ok" })).WithTags("Health");
        routes.MapGet("/readyz", ReadyAsync).WithTags("Health");
    }

    private static async Task<IResult> ReadyAsync(
        ILocalSiloDetails silo,
        IClusterMembershipService membership,
        IGrainFactory grains,
        DagFolderLoader loader,
        LocalJobBackend local)
    {
        var joined = membership.CurrentSnapshot.GetSiloStatus(silo.SiloAddress) == SiloStatus.Active;
        string storage;
        try
        {
            // Reading the registry goes through grain storage: it answers only when storage does.
            await grains.GetGrain<Grains.IDagRegistryGrain>(0).ListAsync().WaitAsync(TimeSpan.FromSeconds(5));
            storage = "ok";
        }
        catch (Exception ex) when (ex is TimeoutException or OrleansException)
        {
            storage = "unreachable: " + ex.Message;
        }
        var dags = loader.FirstScan.IsCompleted ? "loaded" : "loading";
        var ready = joined && storage == "ok" && dags == "loaded";
        var body = new
        {
            status = ready ? "ready" : "not ready",
            silo = joined ? "joined" : "not joined",
            storage,
            dags,
            localIsolation = local.Isolation,
            memoryIsolated = local.IsIsolated,
        };
        return ready ? TypedResults.Ok(body) : TypedResults.Json(body, statusCode: StatusCodes.Status503ServiceUnavailable);
    }
}
