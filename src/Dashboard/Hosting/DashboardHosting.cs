using Batchyard.Access;
using Batchyard.Dashboard.Components;
using Batchyard.History;
using Batchyard.Dashboard.Model;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.StaticWebAssets;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using MudBlazor.Services;

namespace Batchyard.Dashboard.Hosting;

/// <summary>Hosts the dashboard in an ASP.NET Core app that has a silo (or an Orleans client) and the Batchyard services.</summary>
public static class DashboardHosting
{
    public static WebApplicationBuilder AddBatchyardDashboard(this WebApplicationBuilder builder)
    {
        // Serve MudBlazor's and the framework's files straight from the build output when the app runs from
        // it (dotnet run, tests) in any environment; published output carries them in wwwroot instead.
        StaticWebAssetsLoader.UseStaticWebAssets(builder.Environment, builder.Configuration);
        var services = builder.Services;
        services.AddRazorComponents().AddInteractiveServerComponents();
        services.AddMudServices();
        services.TryAddSingleton(TimeProvider.System);
        services.AddScoped<DashboardData>();
        services.TryAddSingleton<PrerenderHandoff>();
        services.AddScoped<DashboardCaller>();
        // The silo registers these already (with its storage's audit log); a dashboard of its own falls back to them.
        services.TryAddSingleton(sp => new ApiKeys(sp.GetRequiredService<IConfiguration>()));
        services.TryAddSingleton<IAuditLog>(_ => new MemoryAuditLog());
        services.TryAddSingleton<AuditTrail>();
        services.AddScoped<ClusterProbe>();
        services.TryAddSingleton<Batchyard.Pools.PoolSettings>();
        services.AddAuthentication().AddCookie(DashboardAuth.Scheme, options =>
        {
            options.Cookie.Name = "batchyard_dashboard";
            options.Cookie.HttpOnly = true;
            options.Cookie.SameSite = SameSiteMode.Strict;
            // Secure whenever the request came over HTTPS (the session then never travels in clear).
            options.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
            options.LoginPath = DashboardAuth.LoginPath;
            options.ExpireTimeSpan = TimeSpan.FromHours(12);
            options.SlidingExpiration = true;
        });
        return builder;
    }

    /// <summary>Maps the pages at <c>/</c>, the Blazor circuit, the static files, and sign-in/out.</summary>
    public static WebApplication MapBatchyardDashboard(this WebApplication app)
    {
        app.Use(DashboardAuth.RequireSessionAsync);
        app.UseAntiforgery();
        app.MapStaticAssets();
        app.MapRazorComponents<App>().AddInteractiveServerRenderMode();
        app.MapPost("/logout", async (HttpContext context) =>
        {
            await context.SignOutAsync(DashboardAuth.Scheme);
            return Results.Redirect(DashboardAuth.LoginPath);
        }).ExcludeFromDescription();
        return app;
    }
}
