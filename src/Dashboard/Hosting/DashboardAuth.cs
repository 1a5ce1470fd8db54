using System.Security.Claims;
using Batchyard.Access;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Batchyard.Dashboard.Hosting;

/// <summary>
/// The dashboard's own sign-in when any API key is set (<see cref="ApiKeys"/>): any configured key is asked once
/// and the session, a cookie, keeps its name (never the key) and a stamp of it, so that the session ends when the
/// key changes or goes. The API keeps its own bearer check; this scheme is named, so it never becomes anyone's default.
/// </summary>
public static class DashboardAuth
{
    public const string Scheme = "BatchyardDashboard";
    public const string LoginPath = "/login";
    private const string StampClaim = "batchyard:key";

    public static ClaimsPrincipal Principal(Caller caller, ApiKeys keys)
    {
        ArgumentNullException.ThrowIfNull(caller);
        ArgumentNullException.ThrowIfNull(keys);
        return new(new ClaimsIdentity(
            [new Claim(ClaimTypes.Name, caller.Name), new Claim(ClaimTypes.Role, caller.Role.Name()), new Claim(StampClaim, keys.Stamp(caller.Name) ?? "")],
            Scheme));
    }

    /// <summary>
    /// The caller of a signed-in session as the keys are now (role and tags are read from the configuration, not
    /// the cookie); null when the session's key no longer exists or changed. Anonymous when no key is configured.
    /// </summary>
    public static Caller? CallerOf(ClaimsPrincipal? user, ApiKeys keys)
    {
        ArgumentNullException.ThrowIfNull(keys);
        if (!keys.Enabled)
        {
            return Caller.Anonymous;
        }
        return user?.FindFirstValue(ClaimTypes.Name) is { } name && keys.Named(name) is { } caller
            && keys.Stamp(name) is { } stamp && user.FindFirstValue(StampClaim) == stamp
            ? caller
            : null;
    }

    /// <summary>Pages and the circuit need a session; the API, health checks and static files do not.</summary>
    internal static async Task RequireSessionAsync(HttpContext context, RequestDelegate next)
    {
        var keys = context.RequestServices.GetRequiredService<ApiKeys>();
        // The API and gRPC check the bearer key themselves; the session gate is for the pages only.
        var grpc = context.Request.ContentType?.StartsWith("application/grpc", StringComparison.OrdinalIgnoreCase) == true;
        if (!keys.Enabled || grpc || IsOpen(context.Request.Path))
        {
            await next(context);
            return;
        }
        var result = await context.AuthenticateAsync(Scheme);
        if (result.Succeeded && CallerOf(result.Principal, keys) is not null)
        {
            // The pages and the circuit read the session's caller from the user (DashboardCaller).
            context.User = result.Principal;
            await next(context);
            return;
        }
        if (context.Request.Path.StartsWithSegments("/_blazor") || !HttpMethods.IsGet(context.Request.Method))
        {
            context.Response.StatusCode = StatusCodes.Status401Unauthorized;
            return;
        }
        var returnUrl = context.Request.PathBase + context.Request.Path + context.Request.QueryString;
        context.Response.Redirect($"{LoginPath}?returnUrl={Uri.EscapeDataString(returnUrl)}");
    }

    private static bool IsOpen(PathString path) =>
        path.StartsWithSegments("/api") || path.StartsWithSegments("/healthz") || path.StartsWithSegments("/readyz") || path.StartsWithSegments("/metrics")
        || path.StartsWithSegments("/openapi") || path.StartsWithSegments(LoginPath)
        || path.StartsWithSegments("/_framework") || path.StartsWithSegments("/_content")
        || path.StartsWithSegments("/favicon.ico");
}
