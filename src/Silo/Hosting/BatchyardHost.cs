using Batchyard.Backends.Local;
using Batchyard.Backends.SageMaker;
using Batchyard.Dashboard.Hosting;
using Batchyard.Silo.Api;
using Batchyard.Silo.Grpc;
using Batchyard.Silo.Loading;

namespace Batchyard.Silo.Hosting;

/// <summary>Builds the Batchyard host: the Orleans silo, the backends, the DAGs folder loader, the HTTP and gRPC APIs, the dashboard.</summary>
public static class BatchyardHost
{
    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        // The application name locates the static web assets manifest (the dashboard's files) whichever
        // process hosts Batchyard: `dotnet run`, a published build, or a test host.
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ApplicationName = typeof(BatchyardHost).Assembly.GetName().Name });
        configure?.Invoke(builder);

        var section = builder.Configuration.GetSection("Batchyard");
        var options = section.Get<BatchyardOptions>() ?? new BatchyardOptions();
        builder.Services.Configure<BatchyardOptions>(section);
        var root = builder.Environment.ContentRootPath;
        var dagsFolder = Path.GetFullPath(Path.Combine(root, options.DagsFolder));
        var dataFolder = Path.GetFullPath(Path.Combine(root, options.DataFolder));
        // A task's relative working_dir (and a task without one) runs in the DAGs folder, beside its file.
        builder.Configuration["Batchyard:Local:BaseDirectory"] ??= dagsFolder;
        ListenGuard.CheckConfigured(builder.Configuration);
        builder.Services.AddHostedService<ListenGuard>();
        if (options.Role == HostRole.Dashboard)
        {
            return BuildDashboardOnly(builder, options);
        }

        builder.AddBatchyardTelemetry();
        builder.UseOrleans(silo => SiloStorage.Configure(silo, builder, options));
        builder.Services.AddBatchyardGrains(Path.Combine(dataFolder, "logs"));
        builder.Services.AddLocalBackend(builder.Configuration);
        builder.Services.AddSageMakerBackends(builder.Configuration);
        builder.Services.AddSingleton<DagFolderLoader>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<DagFolderLoader>());

        builder.Services.AddSingleton<ReadRetry>();
        builder.Services.AddSingleton<ApiOperations>();
        builder.Services.AddSingleton<CostOperations>();
        builder.Services.AddSingleton<DatasetOperations>();
        builder.Services.AddApiKeyAuthentication();
        builder.Services.AddSingleton(section.GetSection("Limits").Get<ApiLimits>() ?? new ApiLimits());
        builder.Services.AddWriteRateLimit(section.GetSection("RateLimit").Get<RateLimitOptions>() ?? new RateLimitOptions());
        builder.AddBatchyardGrpc();

        builder.Services.AddProblemDetails();
        builder.Services.AddExceptionHandler<TransientFaultHandler>();
        // Binding failures throw (in every environment) so that ProblemOnError can say which parameter was bad.
        builder.Services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        builder.Services.ConfigureHttpJsonOptions(o => Json.Configure(o.SerializerOptions));
        builder.Services.AddOpenApi();
        builder.AddBatchyardDashboard();

        var app = builder.Build();
        app.UseExceptionHandler(ProblemOnError);
        app.UseStatusCodePages();
        app.UseApiKeyAuthentication();
        app.UseApiBodyLimit();
        app.UseRateLimiter();
        app.MapOpenApi();
        app.MapHealthApi();
        app.MapBatchyardMetrics();
        app.MapDagsApi();
        app.MapRunsApi();
        app.MapBackfillsApi();
        app.MapNotificationsApi();
        app.MapPoolsApi();
        app.MapCostsApi();
        app.MapDatasetsApi();
        app.MapAuditApi();
        app.MapBatchyardGrpc();
        app.MapBatchyardDashboard();
        return app;
    }

    /// <summary>
    /// Errors as problem+json. A transient fault is a 503 with Retry-After (<see cref="TransientFaultHandler"/>,
    /// which runs first); a request the API cannot bind (a bad number or date in the query) is the caller's 400
    /// and says which parameter; anything else is a 500 whose details stay in the log.
    /// </summary>
    private static readonly ExceptionHandlerOptions ProblemOnError = new()
    {
        ExceptionHandler = async context =>
        {
            var error = context.Features.Get<Microsoft.AspNetCore.Diagnostics.IExceptionHandlerFeature>()?.Error;
            var problem = error is BadHttpRequestException bad
                ? new Microsoft.AspNetCore.Mvc.ProblemDetails { Title = bad.StatusCode == StatusCodes.Status413PayloadTooLarge ? "Request too large" : "Bad request", Status = bad.StatusCode, Detail = bad.Message }
                : new Microsoft.AspNetCore.Mvc.ProblemDetails { Title = "An error occurred while processing your request.", Status = StatusCodes.Status500InternalServerError };
            context.Response.StatusCode = problem.Status!.Value;
            await Results.Problem(problem).ExecuteAsync(context);
        },
    };

    private static WebApplication BuildDashboardOnly(WebApplicationBuilder builder, BatchyardOptions options)
    {
        DashboardRole.Configure(builder, options);
        builder.Services.AddProblemDetails();
        builder.Services.AddExceptionHandler<TransientFaultHandler>();
        builder.AddBatchyardDashboard();
        var app = builder.Build();
        app.UseExceptionHandler(ProblemOnError);
        app.UseStatusCodePages();
        DashboardRole.MapHealth(app);
        app.MapBatchyardDashboard();
        return app;
    }
}
