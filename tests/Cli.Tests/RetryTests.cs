using System.Diagnostics;
using System.Net;
using System.Text;
using Batchyard.Cli;

namespace Batchyard.Tests;

/// <summary>The CLI rides out a server that is failing over: 503s and refused connections are retried, within a bound, and said on stderr.</summary>
public sealed class RetryTests
{
    private const string Server = "http://batchyard.test:5080";

    private static string RunJson(string state) => $$"""
        { "dagId": "d", "runId": "r1", "state": "{{state}}", "runType": "manual", "logicalDate": "2026-01-01T00:00:00.000Z",
          "params": {}, "tasks": [ { "taskId": "only", "state": "{{(state == "running" ? "running" : state)}}", "attempts": [] } ] }
        """;

    private static HttpResponseMessage Json(HttpStatusCode status, string json) =>
        new(status) { Content = new StringContent(json, Encoding.UTF8, "application/json") };

    private static HttpResponseMessage Unavailable(int retryAfterSeconds)
    {
        var response = new HttpResponseMessage(HttpStatusCode.ServiceUnavailable)
        {
            Content = new StringContent("""{ "title": "Service unavailable", "status": 503, "detail": "the cluster cannot answer this call right now" }""", Encoding.UTF8, "application/problem+json"),
        };
        response.Headers.RetryAfter = new System.Net.Http.Headers.RetryConditionHeaderValue(TimeSpan.FromSeconds(retryAfterSeconds));
        return response;
    }

    private static HttpResponseMessage Refused() =>
        throw new HttpRequestException(HttpRequestError.ConnectionError, "Connection refused (batchyard.test:5080)");

    private static async Task<CliResult> RunAsync(ScriptedServer server, params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var code = await CliApp.RunAsync([.. args, "--server", Server], output, error, _ => null, server, timeout.Token, TimeSpan.FromMilliseconds(50));
        return new CliResult(code, output.ToString(), error.ToString());
    }

    [Fact]
    public async Task RunsShow_A503ThenA200_IsRiddenThrough_AfterTheRetryAfter_SayingSoOnStderr()
    {
        using var server = new ScriptedServer(_ => Unavailable(1), _ => Json(HttpStatusCode.OK, RunJson("succeeded")));

        var result = await RunAsync(server, "runs", "show", "d", "r1");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("r1", result.Output, StringComparison.Ordinal);
        Assert.Equal($"batchyard: {Server} answered 503 Service Unavailable; retrying in 1 s", result.Error.Trim());
        Assert.Equal(2, server.Requests.Count);
        Assert.True(server.Requests[1].At - server.Requests[0].At >= TimeSpan.FromSeconds(0.9), "the second try should wait for the Retry-After");
    }

    [Fact]
    public async Task TriggerWait_ThroughA503AndARefusedConnection_FollowsTheRunToItsOutcome()
    {
        using var server = new ScriptedServer(
            _ => Json(HttpStatusCode.Accepted, RunJson("running")),
            _ => Unavailable(0),
            _ => Refused(),
            _ => Json(HttpStatusCode.OK, RunJson("succeeded")));

        var result = await RunAsync(server, "dags", "trigger", "d", "--wait");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("run r1 succeeded", result.Output, StringComparison.Ordinal);
        var retries = result.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Equal(2, retries.Length);
        Assert.Contains("answered 503 Service Unavailable; retrying in", retries[0], StringComparison.Ordinal);
        Assert.Contains("Connection refused", retries[1], StringComparison.Ordinal);
        Assert.Equal(["POST", "GET", "GET", "GET"], server.Requests.Select(r => r.Method));
    }

    [Fact]
    public async Task A503ToAWrite_IsNotSentAgain()
    {
        using var server = new ScriptedServer(_ => Unavailable(1), _ => Json(HttpStatusCode.OK, RunJson("cancelled")));

        var result = await RunAsync(server, "runs", "cancel", "d", "r1");

        Assert.Equal(1, result.ExitCode);
        Assert.StartsWith("error: Service unavailable", result.Error, StringComparison.Ordinal);
        Assert.Single(server.Requests);
    }

    [Fact]
    public async Task ARefusedWrite_IsSentAgain_ItNeverReachedTheServer()
    {
        using var server = new ScriptedServer(_ => Refused(), _ => Json(HttpStatusCode.OK, RunJson("cancelled")));

        var result = await RunAsync(server, "runs", "cancel", "d", "r1");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal(2, server.Requests.Count);
    }

    [Fact]
    public async Task RetryFor_BoundsTheWait_ThenTheLastAnswerStands()
    {
        using var server = new ScriptedServer(Enumerable.Repeat<Func<HttpRequestMessage, HttpResponseMessage>>(_ => Unavailable(1), 10).ToArray());

        var result = await RunAsync(server, "runs", "show", "d", "r1", "--retry-for", "2");

        Assert.Equal(1, result.ExitCode);
        Assert.Equal(2, server.Requests.Count);
        Assert.EndsWith("error: Service unavailable: the cluster cannot answer this call right now", result.Error.Trim(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task RetryForZero_FailsAtOnce()
    {
        using var server = new ScriptedServer(_ => Unavailable(1), _ => Json(HttpStatusCode.OK, RunJson("succeeded")));

        var result = await RunAsync(server, "runs", "show", "d", "r1", "--retry-for", "0");

        Assert.Equal(1, result.ExitCode);
        Assert.Single(server.Requests);
    }

    /// <summary>Answers each request with the next step (a step may throw, as a refused connection does).</summary>
    private sealed class ScriptedServer(params Func<HttpRequestMessage, HttpResponseMessage>[] steps) : HttpMessageHandler
    {
        private readonly Stopwatch _clock = Stopwatch.StartNew();

        public List<(string Method, TimeSpan At)> Requests { get; } = [];

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            lock (Requests)
            {
                Requests.Add((request.Method.Method, _clock.Elapsed));
                var step = steps[Math.Min(Requests.Count, steps.Length) - 1];
                return Task.FromResult(step(request));
            }
        }
    }
}
