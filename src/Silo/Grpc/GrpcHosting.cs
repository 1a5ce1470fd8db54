using Batchyard.Silo.Api;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Batchyard.Silo.Grpc;

/// <summary>
/// The gRPC API on its own cleartext HTTP/2 port (<c>Batchyard:GrpcUrl</c>, default <c>http://localhost:5081</c>):
/// without TLS Kestrel cannot offer HTTP/1.1 and HTTP/2 on one port, and the HTTP API keeps its HTTP/1.1 port.
/// </summary>
public static class GrpcHosting
{
    public const string DefaultUrl = "http://localhost:5081";

    public static WebApplicationBuilder AddBatchyardGrpc(this WebApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddGrpc(o => o.Interceptors.Add<TransientFaultInterceptor>());
        builder.Services.AddGrpcReflection();

        var grpcUrl = builder.Configuration["Batchyard:GrpcUrl"] ?? DefaultUrl;
        // Explicit Kestrel endpoints replace `Urls`; so when gRPC gets its port, the `Urls` endpoints are declared
        // alongside it. A host that declares Kestrel:Endpoints itself keeps them as they are.
        if (grpcUrl.Length > 0 && !builder.Configuration.GetSection("Kestrel:Endpoints").Exists())
        {
            var urls = (builder.Configuration[WebHostDefaults.ServerUrlsKey] ?? "http://localhost:5000")
                .Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            var endpoints = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
            for (var i = 0; i < urls.Length; i++)
            {
                endpoints[$"Endpoints:Http{i}:Url"] = urls[i];
            }
            endpoints["Endpoints:Grpc:Url"] = grpcUrl;
            endpoints["Endpoints:Grpc:Protocols"] = nameof(HttpProtocols.Http2);
            var kestrel = new ConfigurationBuilder().AddInMemoryCollection(endpoints).Build();
            builder.WebHost.ConfigureKestrel(options => options.Configure(kestrel));
        }
        return builder;
    }

    public static IEndpointRouteBuilder MapBatchyardGrpc(this IEndpointRouteBuilder routes)
    {
        routes.MapGrpcService<BatchyardGrpcService>();
        routes.MapGrpcReflectionService();
        return routes;
    }
}
