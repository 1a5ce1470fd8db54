using Batchyard.Backends;
using Batchyard.Backends.Local;
using Batchyard.Silo.Loading;
using Orleans.Runtime;

namespace Batchyard.Silo.Api;

/// <summary><c>/healthz</c> (the process answers) and <c>/readyz</c> (silo joined, storage reachable, DAGs read; each backend as it describes itself).</summary>
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
        BackendCatalog backends,
        CancellationToken cancellationToken)
    {
        var described = backends.DescribeHealthAsync(cancellationToken: cancellationToken);
        var joined = membership.CurrentSnapshot.GetSiloStatus(silo.SiloAddress) == SiloStatus.Active;
        var storage = await StorageAsync(grains);
        var dags = loader.FirstScan.IsCompleted ? "loaded" : "loading";
        // Backends say how they are doing, but a silo whose SageMaker is unreachable still runs its other jobs:
        // readiness stays the silo's own.
        var ready = joined && storage == "ok" && dags == "loaded";
        var health = await described;
        // These two fields came before `backends` and scripts read them: the local backend's own description.
        var local = health.FirstOrDefault(b => b.Backend == LocalJobBackend.BackendName);
        var body = new
        {
            status = ready ? "ready" : "not ready",
            silo = joined ? "joined" : "not joined",
            storage,
            dags,
            localIsolation = local?.Fact(LocalBackendHealth.IsolationFact),
            memoryIsolated = local?.Status == BackendStatus.Ok,
            backends = health,
        };
        return ready ? TypedResults.Ok(body) : TypedResults.Json(body, statusCode: StatusCodes.Status503ServiceUnavailable);
    }

    /// <summary>"ok", or why not: reading the DAG registry goes through grain storage, so it answers only when storage does.</summary>
    private static async Task<string> StorageAsync(IGrainFactory grains)
    {
        try
        {
            await grains.GetGrain<Grains.IDagRegistryGrain>(0).ListAsync().WaitAsync(TimeSpan.FromSeconds(5));
            return "ok";
        }
        catch (Exception ex) when (ex is OrleansException || TransientFaults.IsTransient(ex))
        {
            return "unreachable: " + ex.Message;
        }
    }
}
