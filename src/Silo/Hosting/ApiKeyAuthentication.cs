using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace Batchyard.Silo.Hosting;

/// <summary>
/// The API key (<c>Batchyard:ApiKey</c>). When one is set, requests under the protected path prefixes (the
/// HTTP API and the gRPC services) need <c>Authorization: Bearer &lt;key&gt;</c>; other paths (health checks,
/// the dashboard with its own login) belong to their owners. The dashboard can check a key with <see cref="IsValid"/>.
/// </summary>
public sealed class ApiKeyAuthentication
{
    private readonly BearerKey? _key;
    private readonly List<string> _protectedPrefixes = ["/api/", "/batchyard.v1.", "/grpc.reflection."];

    public ApiKeyAuthentication(IOptions<BatchyardOptions> options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _key = options.Value.ApiKey is { Length: > 0 } key ? new BearerKey(key) : null;
    }

    /// <summary>True when a key is configured and calls must present it.</summary>
    public bool Enabled => _key is not null;

    /// <summary>Path prefixes that need the key (case-insensitive); hosts add their own before the app starts.</summary>
    public IReadOnlyList<string> ProtectedPrefixes => _protectedPrefixes;

    public void Protect(string pathPrefix)
    {
        ArgumentException.ThrowIfNullOrEmpty(pathPrefix);
        _protectedPrefixes.Add(pathPrefix);
    }

    public bool IsProtected(PathString path) =>
        path.Value is { } value && (_protectedPrefixes.Any(p => value.StartsWith(p, StringComparison.OrdinalIgnoreCase))
            || _protectedPrefixes.Any(p => p.EndsWith('/') && value.Equals(p[..^1], StringComparison.OrdinalIgnoreCase)));

    /// <summary>Whether <paramref name="key"/> is the configured key (always true when none is configured).</summary>
    public bool IsValid(string? key) => _key is null || _key.Matches(key);

    /// <summary>The bearer token of a request, or null.</summary>
    public static string? BearerToken(HttpRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var header = request.Headers.Authorization.ToString();
        const string scheme = "Bearer ";
        return header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase) ? header[scheme.Length..].Trim() : null;
    }

    /// <summary>Refuses protected requests without the key: 401 problem+json, or gRPC status <c>Unauthenticated</c>.</summary>
    public async Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(next);
        if (!Enabled || !IsProtected(context.Request.Path) || IsValid(BearerToken(context.Request)))
        {
            await next(context);
            return;
        }

        var detail = context.Request.Headers.Authorization.Count == 0
            ? "this server requires 'Authorization: Bearer <key>'"
            : "the API key is not valid";
        if (context.Request.ContentType?.StartsWith("application/grpc", StringComparison.OrdinalIgnoreCase) == true)
        {
            // A trailers-only gRPC answer: HTTP 200 with the status in the headers, as gRPC clients expect.
            context.Response.StatusCode = StatusCodes.Status200OK;
            context.Response.ContentType = "application/grpc";
            context.Response.Headers["grpc-status"] = "16";
            context.Response.Headers["grpc-message"] = Uri.EscapeDataString(detail);
            return;
        }

        await RefuseAsync(context, detail);
    }

    /// <summary>The 401 problem+json answer of a request without the key it needs.</summary>
    public static Task RefuseAsync(HttpContext context, string detail)
    {
        ArgumentNullException.ThrowIfNull(context);
        context.Response.Headers.WWWAuthenticate = "Bearer";
        return TypedResults.Problem(title: "Unauthorized", detail: detail, statusCode: StatusCodes.Status401Unauthorized).ExecuteAsync(context);
    }
}

/// <summary>
/// A secret key kept as its hash. Both sides are hashed before comparing, so the comparison takes the same
/// time whatever the length or content of the guess.
/// </summary>
public sealed class BearerKey(string key)
{
    private readonly byte[] _hash = Hash(key);

    public bool Matches(string? presented) => presented is not null && CryptographicOperations.FixedTimeEquals(Hash(presented), _hash);

    private static byte[] Hash(string text) => SHA256.HashData(Encoding.UTF8.GetBytes(text));
}

public static class ApiKeyAuthenticationExtensions
{
    /// <summary>Registers <see cref="ApiKeyAuthentication"/> (a singleton others may use to check a key).</summary>
    public static IServiceCollection AddApiKeyAuthentication(this IServiceCollection services) =>
        services.AddSingleton<ApiKeyAuthentication>();

    /// <summary>Puts the key check in front of every endpoint.</summary>
    public static IApplicationBuilder UseApiKeyAuthentication(this IApplicationBuilder app)
    {
        var auth = app.ApplicationServices.GetRequiredService<ApiKeyAuthentication>();
        return app.Use((context, next) => auth.InvokeAsync(context, next));
    }
}
