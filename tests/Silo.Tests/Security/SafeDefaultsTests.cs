using System.Net;
using System.Text.Json;
using Batchyard.Silo.Hosting;
using Batchyard.V1;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.Configuration;

namespace Batchyard.Tests.Security;

/// <summary>A silo that would listen beyond loopback without a key refuses to start; a silo with keys limits request sizes and writes.</summary>
public sealed class SafeDefaultsTests
{
    [Fact]
    public async Task Start_BeyondLoopbackWithAnEmptyKey_Refuses()
    {
        // docker-compose passes an unset BATCHYARD_API_KEY on as an empty Batchyard__ApiKey.
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => BatchyardTestHost.StartAsync(new Dictionary<string, string?>
        {
            ["Urls"] = "http://0.0.0.0:0",
            ["Batchyard:ApiKey"] = "",
        }));

        Assert.Contains("refuses to start", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Urls", "http://0.0.0.0:0")]
    [InlineData("Urls", "http://[::]:0")]
    [InlineData("Urls", "http://*:0")]
    [InlineData("Batchyard:GrpcUrl", "http://0.0.0.0:0")]
    [InlineData("Kestrel:Endpoints:Open:Url", "http://0.0.0.0:0")]
    public async Task Start_BeyondLoopbackWithoutAKey_RefusesSayingHowToSetOne(string setting, string url)
    {
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => BatchyardTestHost.StartAsync(new Dictionary<string, string?> { [setting] = url }));

        Assert.Contains("refuses to start", error.Message, StringComparison.Ordinal);
        Assert.Contains("Batchyard__ApiKey=", error.Message, StringComparison.Ordinal);
        Assert.Contains("Batchyard__ApiKeys__NAME__Key", error.Message, StringComparison.Ordinal);
        Assert.Contains("Batchyard__AllowAnonymous=true", error.Message, StringComparison.Ordinal);
        Assert.Contains(url.Replace(":0", "", StringComparison.Ordinal), error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Batchyard:AllowAnonymous", "true")]
    [InlineData("Batchyard:ApiKey", "a-key-for-the-open-silo")]
    [InlineData("Batchyard:ApiKeys:wall:Key", "a-viewer-key")]
    public async Task Start_On0000_WithAKeyOrAllowAnonymous_Starts(string setting, string value)
    {
        var settings = new Dictionary<string, string?> { ["Urls"] = "http://0.0.0.0:0", [setting] = value };
        if (setting.StartsWith("Batchyard:ApiKeys:", StringComparison.Ordinal))
        {
            settings["Batchyard:ApiKeys:wall:Role"] = "viewer";
        }

        await using var host = await BatchyardTestHost.StartAsync(settings);

        using var http = host.Http(null);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/healthz")).StatusCode);
    }

    [Theory]
    [InlineData("http://localhost:5080", true)]
    [InlineData("http://127.0.0.1:5080", true)]
    [InlineData("http://127.8.0.1:5080", true)]
    [InlineData("http://[::1]:5080", true)]
    [InlineData("http://unix:/run/batchyard.sock", true)]
    [InlineData("http://0.0.0.0:5080", false)]
    [InlineData("http://[::]:5080", false)]
    [InlineData("http://*:5080", false)]
    [InlineData("http://+:5080", false)]
    [InlineData("http://192.168.1.20:5080", false)]
    [InlineData("http://batchyard.example:5080", false)]
    public void IsLoopback_TellsLocalAddressesFromOpenOnes(string url, bool loopback) =>
        Assert.Equal(loopback, ListenGuard.IsLoopback(url));

    [Fact]
    public void ConfiguredUrls_ReadHttpPortsAsEveryInterface_WhenNoUrlsAreSet()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["HTTP_PORTS"] = "8080", ["Batchyard:GrpcUrl"] = "http://localhost:5081" }).Build();

        Assert.Equal(["http://*:8080", "http://localhost:5081"], ListenGuard.ConfiguredUrls(configuration));
    }
}

/// <summary>413 for a body over <c>Batchyard:Limits:MaxBodyBytes</c>; 429 with Retry-After past <c>Batchyard:RateLimit:WritesPerMinute</c>, per key.</summary>
public sealed class RequestLimitsTests : IAsyncLifetime
{
    private const string KeyA = "limits-key-a-31c9";
    private const string KeyB = "limits-key-b-0d44";
    private BatchyardTestHost _host = null!;

    public async Task InitializeAsync() => _host = await BatchyardTestHost.StartAsync(
        new Dictionary<string, string?>
        {
            ["Batchyard:ApiKeys:a:Key"] = KeyA,
            ["Batchyard:ApiKeys:a:Role"] = "admin",
            ["Batchyard:ApiKeys:b:Key"] = KeyB,
            ["Batchyard:ApiKeys:b:Role"] = "admin",
            ["Batchyard:Limits:MaxBodyBytes"] = "65536",
            ["Batchyard:RateLimit:WritesPerMinute"] = "3",
        },
        new Dictionary<string, string> { ["plain.yaml"] = TestDags.Noop("plain") });

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task PutDag_OverTheBodyLimit_Is413ProblemJson_WithOrWithoutALength()
    {
        using var http = _host.Http(KeyA);
        var big = TestDags.Noop("big") + "\n# " + new string('x', 70_000) + "\n";

        using var declared = await http.PutAsync("/api/v1/dags/big", new StringContent(big));
        using var chunked = await http.PutAsync("/api/v1/dags/big", new ChunkedContent(big));

        foreach (var response in new[] { declared, chunked })
        {
            Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            Assert.Equal(413, problem.RootElement.GetProperty("status").GetInt32());
        }
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync("/api/v1/dags/big")).StatusCode);
        // Under the limit the same file is taken.
        Assert.Equal(HttpStatusCode.Created, (await http.PutAsync("/api/v1/dags/small", new StringContent(TestDags.Noop("small")))).StatusCode);
    }

    [Fact]
    public async Task Writes_PastTheRate_Are429WithRetryAfter_PerKey_AndReadsGoOn()
    {
        using var a = _host.Http(KeyA);
        using var b = _host.Http(KeyB);

        var statuses = new List<HttpStatusCode>();
        HttpResponseMessage? refused = null;
        for (var i = 0; i < 5 && refused is null; i++)
        {
            var response = await a.PostAsync("/api/v1/dags/plain/pause", null);
            statuses.Add(response.StatusCode);
            if (response.StatusCode == HttpStatusCode.TooManyRequests)
            {
                refused = response;
            }
        }

        Assert.NotNull(refused);
        Assert.True(statuses.Count(s => s == HttpStatusCode.OK) <= 3, string.Join(",", statuses));
        Assert.Equal("application/problem+json", refused.Content.Headers.ContentType?.MediaType);
        Assert.InRange(refused.Headers.RetryAfter?.Delta?.TotalSeconds ?? 0, 1, 60);
        Assert.Equal(HttpStatusCode.OK, (await a.GetAsync("/api/v1/dags")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await b.PostAsync("/api/v1/dags/plain/unpause", null)).StatusCode);

        using var channel = GrpcChannel.ForAddress(_host.GrpcUrl);
        var grpc = new BatchyardService.BatchyardServiceClient(channel);
        var headers = new Metadata { { "authorization", $"Bearer {KeyA}" } };
        var error = await Assert.ThrowsAsync<RpcException>(() => grpc.PauseDagAsync(new PauseDagRequest { DagId = "plain" }, headers).ResponseAsync);
        Assert.Equal(StatusCode.ResourceExhausted, error.StatusCode);
    }

    /// <summary>A body sent without Content-Length (chunked), so that only the reading can find it too large.</summary>
    private sealed class ChunkedContent(string text) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
            await stream.WriteAsync(System.Text.Encoding.UTF8.GetBytes(text));

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }
}
