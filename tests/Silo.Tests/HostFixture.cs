using Batchyard.V1;
using Grpc.Net.Client;

namespace Batchyard.Tests;

/// <summary>One Batchyard host for the tests of this assembly, with an API key, one secret, and faults tests can arm.</summary>
public sealed class HostFixture : IAsyncLifetime
{
    public const string SecretValue = "s3cr3t-Value-7f41d2";

    private readonly List<GrpcChannel> _channels = [];

    public BatchyardTestHost Host { get; private set; } = null!;

    public Faults Faults { get; } = new();

    public async Task InitializeAsync() => Host = await BatchyardTestHost.StartAsync(
        new Dictionary<string, string?>
        {
            ["Batchyard:ApiKey"] = BatchyardTestHost.ApiKey,
            ["Batchyard:Secrets:deploy_token"] = SecretValue,
        },
        services: services => Faults.Register(services, Faults));

    /// <summary>A gRPC client sending <paramref name="key"/> as a bearer token (none when null).</summary>
    public BatchyardService.BatchyardServiceClient Grpc(string? key = BatchyardTestHost.ApiKey) => new(Channel(key));

    public GrpcChannel Channel(string? key = BatchyardTestHost.ApiKey)
    {
        var handler = new BearerHandler(key) { InnerHandler = new SocketsHttpHandler() };
        var channel = GrpcChannel.ForAddress(Host.GrpcUrl, new GrpcChannelOptions { HttpHandler = handler, DisposeHttpClient = true });
        lock (_channels)
        {
            _channels.Add(channel);
        }
        return channel;
    }

    public async Task DisposeAsync()
    {
        foreach (var channel in _channels)
        {
            channel.Dispose();
        }
        await Host.DisposeAsync();
    }

    /// <summary>A DAG id of its own for each test, so that tests sharing the host never see each other's runs.</summary>
    public static string NewDagId(string prefix) => $"{prefix}-{Guid.NewGuid().ToString("N")[..8]}";

    /// <summary>Sends <c>Authorization: Bearer</c> with the key (none when null) on every request of a gRPC channel.</summary>
    internal sealed class BearerHandler(string? key) : DelegatingHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (key is not null)
            {
                request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", key);
            }
            return base.SendAsync(request, cancellationToken);
        }
    }
}

[CollectionDefinition(Name)]
public sealed class HostCollection : ICollectionFixture<HostFixture>
{
    public const string Name = "host";
}
