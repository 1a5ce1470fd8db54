using Batchyard.V1;
using Grpc.Net.Client;

namespace Batchyard.Tests.Security;

/// <summary>
/// A host with one key of each role, two team keys limited to tags, and the legacy single key; a DAG of each
/// team and one without tags. Keys are as an operator would write them: named, with a role and tags.
/// </summary>
public sealed class RolesFixture : IAsyncLifetime
{
    public const string Viewer = "viewer-key-6d1e";
    public const string Operator = "operator-key-2b7c";
    public const string Admin = "admin-key-91fa";
    public const string TeamAOperator = "team-a-operator-4c2d";
    public const string TeamAAdmin = "team-a-admin-7e3f";
    public const string Legacy = "legacy-key-58ab";

    private readonly List<GrpcChannel> _channels = [];

    public BatchyardTestHost Host { get; private set; } = null!;

    public async Task InitializeAsync() => Host = await BatchyardTestHost.StartAsync(
        new Dictionary<string, string?>
        {
            ["Batchyard:ApiKey"] = Legacy,
            ["Batchyard:ApiKeys:wall:Key"] = Viewer,
            ["Batchyard:ApiKeys:wall:Role"] = "viewer",
            ["Batchyard:ApiKeys:ci:Key"] = Operator,
            ["Batchyard:ApiKeys:ci:Role"] = "operator",
            ["Batchyard:ApiKeys:ops:Key"] = Admin,
            ["Batchyard:ApiKeys:ops:Role"] = "Admin",
            ["Batchyard:ApiKeys:team-a:Key"] = TeamAOperator,
            ["Batchyard:ApiKeys:team-a:Role"] = "operator",
            ["Batchyard:ApiKeys:team-a:Tags"] = "team-a, shared",
            ["Batchyard:ApiKeys:team-a-admin:Key"] = TeamAAdmin,
            ["Batchyard:ApiKeys:team-a-admin:Role"] = "admin",
            ["Batchyard:ApiKeys:team-a-admin:Tags:0"] = "team-a",
        },
        new Dictionary<string, string>
        {
            ["alpha.yaml"] = Tagged("alpha", "team-a"),
            ["beta.yaml"] = Tagged("beta", "team-b"),
            ["plain.yaml"] = TestDags.Noop("plain"),
        });

    /// <summary>One noop task, with the given tags.</summary>
    public static string Tagged(string dagId, params string[] tags) => $$"""
        id: {{dagId}}
        tags: [{{string.Join(", ", tags)}}]
        tasks:
          only:
            backend: noop
        """;

    public BatchyardService.BatchyardServiceClient Grpc(string? key)
    {
        var handler = new HostFixture.BearerHandler(key) { InnerHandler = new SocketsHttpHandler() };
        var channel = GrpcChannel.ForAddress(Host.GrpcUrl, new GrpcChannelOptions { HttpHandler = handler, DisposeHttpClient = true });
        lock (_channels)
        {
            _channels.Add(channel);
        }
        return new BatchyardService.BatchyardServiceClient(channel);
    }

    public async Task DisposeAsync()
    {
        foreach (var channel in _channels)
        {
            channel.Dispose();
        }
        await Host.DisposeAsync();
    }
}
