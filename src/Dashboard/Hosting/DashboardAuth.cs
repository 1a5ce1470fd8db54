using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;

namespace Batchyard.Dashboard.Hosting;

/// <summary>
/// The dashboard's own sign-in when <c>Batchyard:ApiKey</c> is set: the key is asked once and kept as a cookie
/// session. The API keeps its own bearer check; this scheme is named, so it never becomes anyone's default.
/// </summary>
public static class DashboardAuth
{
    public const string Scheme = "BatchyardDashboard";
    public const string LoginPath = "/login";
    private const string KeyClaim = "batchyard:key";

    public static string? ConfiguredKey(IConfiguration configuration) =>
        configuration["Batchyard:ApiKey"] is { Length: > 0 } key ? key : null;

    /// <summary>True when <paramref name="candidate"/> is the configured key (constant-time comparison).</summary>
    public static bool Matches(string configured, string? candidate) =>
        candidate is not null && CryptographicOperations.FixedTimeEquals(Hash(configured), Hash(candidate));

    public static ClaimsPrincipal Principal(string configured) =>
        new(new ClaimsIdentity([new Claim(ClaimTypes.Name, "operator"), new Claim(KeyClaim, Convert.ToHexString(Hash(configured)))], Scheme));

    /// <summary>Pages and the circuit need a session; the API, health checks and static files do not.</summary>
    internal static async Task RequireSessionAsync(HttpContext context, RequestDelegate next)
    {
        var configuration = (IConfiguration)context.RequestServices.GetService(typeof(IConfiguration))!;
        // The API and gRPC check the bearer key themselves; the session gate is for the pages only.
        var grpc = context.Request.ContentType?.StartsWith("application/grpc", StringComparison.OrdinalIgnoreCase) == true;
        if (ConfiguredKey(configuration) is not { } key || grpc || IsOpen(context.Request.Path))
        {
            await next(context);
            return;
        }
        var result = await context.AuthenticateAsync(Scheme);
        // A session made with an older key ends when the key changes.
        if (result.Succeeded && result.Principal.FindFirstValue(KeyClaim) == Convert.ToHexString(Hash(key)))
        {
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

    private static byte[] Hash(string text) => SHA256.HashData(Encoding.UTF8.GetBytes(text));
}
