using System.Security.Cryptography;
using System.Text;
using Batchyard.Access;

namespace Batchyard.Silo.Hosting;

/// <summary>
/// The API keys (<see cref="ApiKeys"/>: <c>Batchyard:ApiKey</c> and <c>Batchyard:ApiKeys:NAME</c>). When any is set,
/// requests under the protected path prefixes (the HTTP API and the gRPC services) need
/// <c>Authorization: Bearer &lt;key&gt;</c>; other paths (health checks, the dashboard with its own login) belong to
/// their owners. The request's <see cref="Caller"/> (its key's name, role and tags) is put in its features for
/// the endpoints (<see cref="CallerOf"/>); without keys every caller is <see cref="Caller.Anonymous"/>.
/// </summary>
public sealed class ApiKeyAuthentication(ApiKeys keys)
{
    private readonly List<string> _protectedPrefixes = ["/api/", "/batchyard.v1.", "/grpc.reflection."];

    /// <summary>True when a key is configured and calls must present it.</summary>
    public bool Enabled => keys.Enabled;

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

    /// <summary>
    /// Whether <paramref name="key"/> is a configured key (always true when none is configured). Both sides are
    /// hashed first so that the comparison takes the same time whatever the length or content of the guess.
    /// </summary>
    public bool IsValid(string? key) => !Enabled || keys.Find(key) is not null;

    /// <summary>The caller the authentication found for this request (anonymous when no key is configured).</summary>
    public static Caller CallerOf(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        // Every API path is protected, so its request has a caller; one without is a route outside them, never an admin.
        return context.Features.Get<Caller>() ?? throw new InvalidOperationException($"{context.Request.Path} is not under a protected path: it has no caller");
    }

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
        if (!Enabled)
        {
            context.Features.Set(Caller.Anonymous);
            await next(context);
            return;
        }
        if (!IsProtected(context.Request.Path))
        {
            await next(context);
            return;
        }
        if (keys.Find(BearerToken(context.Request)) is { } caller)
        {
            context.Features.Set(caller);
            await next(context);
            return;
        }

        var detail = context.Request.Headers.Authorization.Count == 0
            ? "this server requires 'Authorization: Bearer <key>'"
            : "the API key is not valid";
        if (Api.RequestLimits.IsGrpc(context.Request))
        {
            Api.RequestLimits.TrailersOnly(context, global::Grpc.Core.StatusCode.Unauthenticated, detail);
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
