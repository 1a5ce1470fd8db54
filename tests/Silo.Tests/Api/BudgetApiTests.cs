using System.Net;
using System.Text.Json;
using Batchyard.History;
using Batchyard.Runs;
using Microsoft.Extensions.DependencyInjection;

namespace Batchyard.Tests.Api;

/// <summary><c>budget:</c> over HTTP: the month's spend on the DAG, and <c>notify.on_budget</c> reaching its webhook.</summary>
public sealed class BudgetApiTests
{
    [Fact]
    public async Task RunEndPastEightyPercent_NotifiesOnBudgetOnce_AndTheDagShowsTheMonthsSpend()
    {
        var port = Batchyard.Testing.FreePorts.Next();
        using var listener = new HttpListener();
        listener.Prefixes.Add($"http://127.0.0.1:{port}/hooks/");
        listener.Start();
        await using var host = await BatchyardTestHost.StartAsync(
            new Dictionary<string, string?> { ["Batchyard:Notifiers:finance:Url"] = $"http://127.0.0.1:{port}/hooks/finance" },
            new Dictionary<string, string>
            {
                ["capped.yaml"] = """
                    budget: { monthly_usd: 10, pause_on_exceed: true }
                    notify: { on_budget: [finance] }
                    tasks:
                      ok: { backend: noop }
                    """,
            });
        using var http = host.Http(key: null);

        // $8.50 spent this month already (attempts the journal holds), then a run ends: 85 %.
        var now = DateTimeOffset.UtcNow;
        await host.Services.GetRequiredService<IRunJournal>().AppendAsync([new RunEvent
        {
            DagId = "capped",
            RunId = "earlier",
            Seq = 1,
            Kind = RunEventKinds.Task,
            At = now,
            TaskId = "train",
            Payload = RunFactJson.Write(new TaskFact(TaskState.Succeeded, 0, null, null, [], new AttemptDetails
            {
                Attempt = 1,
                State = AttemptState.Succeeded,
                StartedAt = now.AddHours(-1),
                EndedAt = now,
                Cost = new AttemptCost { Usd = 8.5m, ComputeSeconds = 3600, Basis = "test", InstanceType = "ml.p3.2xlarge" },
            })),
        }]);
        await http.PostAsync(new Uri("/api/v1/dags/capped/runs", UriKind.Relative), null);

        var context = await listener.GetContextAsync().WaitAsync(TimeSpan.FromSeconds(30));
        var body = (await JsonDocument.ParseAsync(context.Request.InputStream)).RootElement.Clone();
        var eventId = context.Request.Headers["X-Batchyard-Event-Id"];
        context.Response.StatusCode = 200;
        context.Response.Close();

        var month = now.ToString("yyyy-MM", System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal($"capped/{month}/on_budget/80", eventId);
        Assert.Contains("80 % of its monthly budget of $10", body.GetProperty("text").GetString(), StringComparison.Ordinal);
        var dag = JsonDocument.Parse(await http.GetStringAsync(new Uri("/api/v1/dags/capped", UriKind.Relative))).RootElement;
        var budget = dag.GetProperty("budget");
        Assert.Equal(8.5m, budget.GetProperty("spentUsd").GetDecimal());
        Assert.Equal(85m, budget.GetProperty("percent").GetDecimal());
        Assert.Equal(month, budget.GetProperty("month").GetString());
        Assert.Equal(80, budget.GetProperty("notified")[0].GetInt32());
        Assert.False(dag.GetProperty("paused").GetBoolean());
    }
}
