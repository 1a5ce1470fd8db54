using System.Text;
using Batchyard.Backends;
using Batchyard.Dags;
using Batchyard.Grains;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Batchyard.Silo.Api;

/// <summary><c>/api/v1/dags</c>: list, read, apply, delete, pause and unpause DAGs.</summary>
public static class DagsApi
{
    public static RouteGroupBuilder MapDagsApi(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/api/v1/dags").WithTags("DAGs");
        group.MapGet("/", ListAsync).WithSummary("All DAGs: id, paused, schedule, next run time, last run state");
        group.MapGet("/{dagId}", GetAsync).WithSummary("The DAG, its tasks and edges, its state");
        group.MapPut("/{dagId}", ApplyAsync).WithSummary("Create or replace a DAG from a YAML or JSON body")
            .Accepts<string>("application/yaml", "application/json", "text/plain");
        group.MapDelete("/{dagId}", DeleteAsync).WithSummary("Remove a DAG; its history stays readable");
        group.MapPost("/{dagId}/pause", (string dagId, IGrainFactory grains) => SetPausedAsync(dagId, true, grains)).WithSummary("Stop the DAG's schedule");
        group.MapPost("/{dagId}/unpause", (string dagId, IGrainFactory grains) => SetPausedAsync(dagId, false, grains)).WithSummary("Resume the DAG's schedule");
        return group;
    }

    private static async Task<Ok<DagListItem[]>> ListAsync(IGrainFactory grains)
    {
        var ids = await grains.GetGrain<IDagRegistryGrain>(0).ListAsync();
        var infos = await Task.WhenAll(ids.Select(id => grains.GetGrain<IDagGrain>(id).GetAsync()));
        return TypedResults.Ok(infos.OfType<DagInfo>().Select(DagListItem.From).ToArray());
    }

    private static async Task<IResult> GetAsync(string dagId, IGrainFactory grains)
    {
        var dag = grains.GetGrain<IDagGrain>(dagId);
        if (await dag.GetAsync() is not { } info)
        {
            return Problems.NotFound($"DAG '{dagId}' does not exist");
        }
        if (info.Definition is not { } definition)
        {
            return TypedResults.Problem(
                title: "DAG not loaded",
                detail: $"DAG '{dagId}' has no valid version: its file was refused",
                statusCode: StatusCodes.Status404NotFound,
                extensions: new Dictionary<string, object?> { ["errors"] = info.LoadErrors.ToArray() });
        }
        return TypedResults.Ok(DagView.From(info, definition, await dag.GetNextSlotsAsync(5)));
    }

    private static async Task<IResult> ApplyAsync(string dagId, HttpRequest request, IGrainFactory grains, BackendCatalog backends)
    {
        string text;
        using (var reader = new StreamReader(request.Body, Encoding.UTF8))
        {
            text = await reader.ReadToEndAsync(request.HttpContext.RequestAborted);
        }
        if (string.IsNullOrWhiteSpace(text))
        {
            return Problems.InvalidDag([$"{dagId}.yaml:1: the body is empty; send the DAG file as YAML or JSON"]);
        }

        var result = DagParser.Parse($"{dagId}.yaml", text, backends, dagId);
        if (result.Dag is not { } definition)
        {
            return Problems.InvalidDag(result.Problems.Select(p => p.ToString()));
        }
        if (definition.DagId != dagId)
        {
            return Problems.InvalidDag([$"{dagId}.yaml:1: the file's id '{definition.DagId}' does not match the URL's '{dagId}'"]);
        }

        var dag = grains.GetGrain<IDagGrain>(dagId);
        var existed = await dag.GetAsync() is { Definition: not null };
        var info = await dag.ApplyAsync(definition);
        var view = DagView.From(info, definition, await dag.GetNextSlotsAsync(5));
        return existed ? TypedResults.Ok(view) : TypedResults.Created($"/api/v1/dags/{dagId}", view);
    }

    private static async Task<IResult> DeleteAsync(string dagId, IGrainFactory grains)
    {
        var dag = grains.GetGrain<IDagGrain>(dagId);
        if (await dag.GetAsync() is null)
        {
            return Problems.NotFound($"DAG '{dagId}' does not exist");
        }
        await dag.DeleteAsync();
        return TypedResults.NoContent();
    }

    private static async Task<IResult> SetPausedAsync(string dagId, bool paused, IGrainFactory grains)
    {
        var dag = grains.GetGrain<IDagGrain>(dagId);
        if (await dag.GetAsync() is not { Definition: not null })
        {
            return Problems.NotFound($"DAG '{dagId}' does not exist");
        }
        var info = await dag.SetPausedAsync(paused);
        return TypedResults.Ok(DagListItem.From(info));
    }
}
