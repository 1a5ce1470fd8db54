using System.Net;
using System.Text.Json;

namespace Batchyard.Tests.Api;

/// <summary>notify.on_failure / on_success reach the webhooks configured on the server.</summary>
public sealed class NotificationTests
{
    [Fact]
    public async Task FailedRun_PostsToItsOnFailureNotifier_AndASucceededRunToOnSuccess()
    {
        var port = Batchyard.Testing.FreePorts.Next();
        using var listener = new HttpListener();
        listener.Prefixes.Add($"http://127.0.0.1:{port}/hooks/");
        listener.Start();

        await using var host = await BatchyardTestHost.StartAsync(
            new Dictionary<string, string?>
            {
                ["Batchyard:Notifiers:team-slack:Url"] = $"http://127.0.0.1:{port}/hooks/slack",
                ["Batchyard:Notifiers:audit:Url"] = $"http://127.0.0.1:{port}/hooks/audit",
            },
            new Dictionary<string, string>
            {
                ["alerting.yaml"] = """
                    notify: { on_failure: [team-slack], on_success: [audit] }
                    tasks:
                      boom: { command: [sh, -c, 'exit 2'], resources: { memory_mb: 32 } }
                    """,
                ["fine.yaml"] = """
                    notify: { on_failure: [team-slack], on_success: [audit] }
                    tasks:
                      ok: { backend: noop }
                    """,
            });
        using var http = host.Http(key: null);

        await http.PostAsync(new Uri("/api/v1/dags/alerting/runs", UriKind.Relative), null);
        var failure = await ReceiveAsync(listener);
        Assert.Equal("/hooks/slack", failure.Path);
        Assert.Equal("alerting", failure.Body.GetProperty("dag_id").GetString());
        Assert.Equal("failed", failure.Body.GetProperty("state").GetString());
        Assert.Equal("boom", failure.Body.GetProperty("failed_tasks")[0].GetString());
        Assert.Contains("(failed: boom)", failure.Body.GetProperty("text").GetString(), StringComparison.Ordinal);

        await http.PostAsync(new Uri("/api/v1/dags/fine/runs", UriKind.Relative), null);
        var success = await ReceiveAsync(listener);
        Assert.Equal("/hooks/audit", success.Path);
        Assert.Equal("succeeded", success.Body.GetProperty("state").GetString());
    }

    private static async Task<(string Path, JsonElement Body)> ReceiveAsync(HttpListener listener)
    {
        var context = await listener.GetContextAsync().WaitAsync(TimeSpan.FromSeconds(30));
        var body = (await JsonDocument.ParseAsync(context.Request.InputStream)).RootElement.Clone();
        context.Response.StatusCode = 200;
        context.Response.Close();
        return (context.Request.Url!.AbsolutePath, body);
    }
}
