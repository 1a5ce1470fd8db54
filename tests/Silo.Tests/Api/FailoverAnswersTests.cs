using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Npgsql;
using Orleans.Runtime;
using Orleans.Runtime.Messaging;

namespace Batchyard.Tests.Api;

/// <summary>
/// What the HTTP API answers while the cluster fails over, with the faults a failover causes injected into the
/// real host: 503 problem+json with Retry-After, after a short retry for reads; never 500.
/// </summary>
[Collection(HostCollection.Name)]
public sealed class FailoverAnswersTests(HostFixture fixture)
{
    private BatchyardTestHost Host => fixture.Host;

    private async Task<(string DagId, string RunId)> FinishedRunAsync(string prefix)
    {
        var dagId = HostFixture.NewDagId(prefix);
        await Host.ApplyAsync(dagId, TestDags.Noop(dagId));
        var runId = await Host.TriggerAsync(dagId);
        await Host.WaitForRunEndAsync(dagId, runId);
        return (dagId, runId);
    }

    private static async Task AssertUnavailableAsync(HttpResponseMessage response)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.ServiceUnavailable, $"{(int)response.StatusCode}: {body}");
        Assert.Equal(TimeSpan.FromSeconds(2), response.Headers.RetryAfter?.Delta);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var problem = JsonDocument.Parse(body);
        Assert.Equal(503, problem.RootElement.GetProperty("status").GetInt32());
        Assert.Equal("Service unavailable", problem.RootElement.GetProperty("title").GetString());
    }

    [Fact]
    public async Task GetRun_WhileItsGrainStaysUnreachable_Answers503WithRetryAfter_AfterRetryingInside()
    {
        var (dagId, runId) = await FinishedRunAsync("fo-get");
        var run = $"{dagId}/{runId}";
        using var armed = fixture.Faults.Arm(run, "GetAsync", () => new SiloUnavailableException($"the silo of {run} is unavailable"));
        using var http = Host.Http();

        using var response = await http.GetAsync(new Uri($"/api/v1/dags/{dagId}/runs/{runId}", UriKind.Relative));

        await AssertUnavailableAsync(response);
        Assert.True(fixture.Faults.Thrown(run, "GetAsync") > 1, "the read should have been tried again before answering 503");
        // One warning line names the refused call; the framework's "unhandled exception" error is not written.
        Assert.Contains(Host.Logs.Lines, l => l.StartsWith("Warning", StringComparison.Ordinal) && l.Contains($"/runs/{runId} answered 503: SiloUnavailableException", StringComparison.Ordinal));
        Assert.DoesNotContain(Host.Logs.Lines, l => l.StartsWith("Error", StringComparison.Ordinal) && l.Contains(runId, StringComparison.Ordinal));
    }

    [Fact]
    public async Task GetRun_WhenTheFaultPassesWithinTheRetries_Answers200()
    {
        var (dagId, runId) = await FinishedRunAsync("fo-blip");
        using var armed = fixture.Faults.Arm($"{dagId}/{runId}", "GetAsync", () => new TimeoutException("Response did not arrive on time"), times: 2);
        using var http = Host.Http();

        var run = await http.GetFromJsonAsync<JsonElement>(new Uri($"/api/v1/dags/{dagId}/runs/{runId}", UriKind.Relative));

        Assert.Equal("succeeded", run.GetProperty("state").GetString());
        Assert.Equal(2, fixture.Faults.Thrown($"{dagId}/{runId}", "GetAsync"));
    }

    [Fact]
    public async Task GetRun_RejectedLateBecauseItsSiloWasJustDeclaredDead_IsTriedOnceMore_AndAnswers200()
    {
        var (dagId, runId) = await FinishedRunAsync("fo-late");
        var run = $"{dagId}/{runId}";
        using var armed = fixture.Faults.Arm(run, "GetAsync", () => new SiloUnavailableException("The target silo became unavailable"), times: 1, after: TimeSpan.FromSeconds(2.5));
        using var http = Host.Http();

        using var response = await http.GetAsync(new Uri($"/api/v1/dags/{dagId}/runs/{runId}", UriKind.Relative));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(1, fixture.Faults.Thrown(run, "GetAsync"));
    }

    [Fact]
    public async Task GetRun_ThatTimedOutPastTheRetryBudget_IsNotRepeated_AndAnswers503()
    {
        var (dagId, runId) = await FinishedRunAsync("fo-slow");
        var run = $"{dagId}/{runId}";
        using var armed = fixture.Faults.Arm(run, "GetAsync", () => new TimeoutException("Response did not arrive on time"), times: 1, after: TimeSpan.FromSeconds(2.5));
        using var http = Host.Http();

        using var response = await http.GetAsync(new Uri($"/api/v1/dags/{dagId}/runs/{runId}", UriKind.Relative));

        await AssertUnavailableAsync(response);
        Assert.Equal(1, fixture.Faults.Thrown(run, "GetAsync"));
    }

    [Fact]
    public async Task GetRun_WithAFaultThatIsNotTransient_StillAnswers500()
    {
        var (dagId, runId) = await FinishedRunAsync("fo-bug");
        using var armed = fixture.Faults.Arm($"{dagId}/{runId}", "GetAsync", () => new InvalidOperationException("a bug, not a failover"));
        using var http = Host.Http();

        using var response = await http.GetAsync(new Uri($"/api/v1/dags/{dagId}/runs/{runId}", UriKind.Relative));

        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        Assert.Null(response.Headers.RetryAfter);
        Assert.Equal(1, fixture.Faults.Thrown($"{dagId}/{runId}", "GetAsync"));
    }

    [Fact]
    public async Task ListRuns_WhenThePostgresPoolTimesOut_Answers503()
    {
        var (dagId, _) = await FinishedRunAsync("fo-pool");
        using var armed = fixture.Faults.Arm(dagId, "ListRunsAsync", () => new NpgsqlException(
            "The connection pool has been exhausted, either raise 'Max Pool Size' (currently 100) or 'Timeout' (currently 15 seconds) in your connection string.",
            new TimeoutException()));
        using var http = Host.Http();

        using var response = await http.GetAsync(new Uri($"/api/v1/dags/{dagId}/runs", UriKind.Relative));

        await AssertUnavailableAsync(response);
    }

    [Fact]
    public async Task GetDag_WhenItsGrainCannotBeConnectedTo_Answers503()
    {
        var dagId = HostFixture.NewDagId("fo-dag");
        await Host.ApplyAsync(dagId, TestDags.Noop(dagId));
        using var armed = fixture.Faults.Arm(dagId, "GetAsync", () => new OrleansException("Exception while sending message", new ConnectionFailedException("Unable to connect to endpoint S127.0.0.1:11112:0")));
        using var http = Host.Http();

        using var response = await http.GetAsync(new Uri($"/api/v1/dags/{dagId}", UriKind.Relative));

        await AssertUnavailableAsync(response);
    }

    [Fact]
    public async Task Trigger_WhenTheDagGrainIsUnreachable_Answers503AtOnce_WithoutTryingTheWriteAgain()
    {
        var dagId = HostFixture.NewDagId("fo-trigger");
        await Host.ApplyAsync(dagId, TestDags.Noop(dagId));
        using var armed = fixture.Faults.Arm(dagId, "TriggerAsync", () => new SiloUnavailableException("the silo is unavailable"));
        using var http = Host.Http();

        using var response = await http.PostAsJsonAsync(new Uri($"/api/v1/dags/{dagId}/runs", UriKind.Relative), new { });

        await AssertUnavailableAsync(response);
        Assert.Equal(1, fixture.Faults.Thrown(dagId, "TriggerAsync"));
    }
}
