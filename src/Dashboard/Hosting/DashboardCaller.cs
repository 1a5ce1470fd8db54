using Batchyard.Access;
using Microsoft.AspNetCore.Components.Authorization;

namespace Batchyard.Dashboard.Hosting;

/// <summary>The signed-in caller of a page or circuit (anonymous admin without keys; null for a session whose key is gone).</summary>
public sealed class DashboardCaller(AuthenticationStateProvider authentication, ApiKeys keys)
{
    public async Task<Caller?> GetAsync()
    {
        if (!keys.Enabled)
        {
            return Caller.Anonymous;
        }
        var state = await authentication.GetAuthenticationStateAsync();
        return DashboardAuth.CallerOf(state.User, keys);
    }
}
