using System.Net;
using System.Text.Json;
using Batchyard.V1;
using Grpc.Core;

namespace Batchyard.Tests;

/// <summary>With <c>Batchyard:ApiKey</c> set: no key, a wrong key and the right key, over HTTP and gRPC; health checks open.</summary>
[Collection(HostCollection.Name)]
public sealed class AuthTests(HostFixture fixture)
{
    [Theory]
    [InlineData(null, "this server requires")]
    [InlineData("wrong-key", "not valid")]
    [InlineData(BatchyardTestHost.ApiKey + "x", "not valid")]
    public async Task Http_WithoutTheRightKey_Is401ProblemJson(string? key, string detail)
    {
        using var http = fixture.Host.Http(key);

        using var response = await http.GetAsync("/api/v1/dags");

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(401, problem.RootElement.GetProperty("status").GetInt32());
        Assert.Contains(detail, problem.RootElement.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Contains("Bearer", response.Headers.WwwAuthenticate.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Http_WithoutKey_CannotWriteEither()
    {
        using var http = fixture.Host.Http(null);

        using var response = await http.PutAsync("/api/v1/dags/sneaky", new StringContent("tasks: { a: { backend: noop } }"));

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        using var authorized = fixture.Host.Http();
        Assert.Equal(HttpStatusCode.NotFound, (await authorized.GetAsync("/api/v1/dags/sneaky")).StatusCode);
    }

    [Fact]
    public async Task Http_WithTheRightKey_Answers()
    {
        using var http = fixture.Host.Http();

        using var response = await http.GetAsync("/api/v1/dags");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Theory]
    [InlineData("/healthz")]
    [InlineData("/readyz")]
    public async Task HealthChecks_WithoutKey_Answer(string path)
    {
        using var http = fixture.Host.Http(null);

        using var response = await http.GetAsync(path);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("wrong-key")]
    public async Task Grpc_WithoutTheRightKey_IsUnauthenticated(string? key)
    {
        var client = fixture.Grpc(key);

        var error = await Assert.ThrowsAsync<RpcException>(() => client.ListDagsAsync(new ListDagsRequest()).ResponseAsync);

        Assert.Equal(StatusCode.Unauthenticated, error.StatusCode);
    }

    [Fact]
    public async Task Grpc_Streaming_WithoutKey_IsUnauthenticated()
    {
        var client = fixture.Grpc(null);

        using var call = client.WatchRun(new WatchRunRequest { DagId = "any", RunId = "any" });
        var error = await Assert.ThrowsAsync<RpcException>(() => call.ResponseStream.MoveNext(CancellationToken.None));

        Assert.Equal(StatusCode.Unauthenticated, error.StatusCode);
    }

    [Fact]
    public async Task Grpc_WithTheRightKey_Answers()
    {
        var client = fixture.Grpc();

        var response = await client.ListDagsAsync(new ListDagsRequest());

        Assert.NotNull(response);
    }

    [Fact]
    public void IsValid_ComparesTheWholeKey()
    {
        var auth = (Silo.Hosting.ApiKeyAuthentication)fixture.Host.Services.GetService(typeof(Silo.Hosting.ApiKeyAuthentication))!;

        Assert.True(auth.Enabled);
        Assert.True(auth.IsValid(BatchyardTestHost.ApiKey));
        Assert.False(auth.IsValid(BatchyardTestHost.ApiKey[..^1]));
        Assert.False(auth.IsValid(""));
        Assert.False(auth.IsValid(null));
    }

    [Fact]
    public void TheKey_NeverAppearsInTheHostsLog()
    {
        Assert.DoesNotContain(fixture.Host.Logs.Lines, line => line.Contains(BatchyardTestHost.ApiKey, StringComparison.Ordinal));
    }
}
