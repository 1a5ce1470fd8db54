using System.Collections.Immutable;
using Batchyard.Dags;
using Batchyard.Logs;
using Batchyard.Secrets;
using Microsoft.Extensions.Configuration;

namespace Batchyard.Tests.Secrets;

public sealed class TaskSecretsTests
{
    private sealed class Resolver(Dictionary<string, string> values) : ISecretResolver
    {
        public string? Resolve(string name) => values.GetValueOrDefault(name);
    }

    private sealed class Log : IAttemptLog
    {
        public string Text { get; private set; } = "";

        public ValueTask<long> GetLengthAsync(CancellationToken cancellationToken = default) => ValueTask.FromResult((long)Text.Length);

        public ValueTask AppendAsync(string text, CancellationToken cancellationToken = default)
        {
            Text += text;
            return ValueTask.CompletedTask;
        }
    }

    private static TaskDefinition Task(params (string Key, string Value)[] env) => new()
    {
        TaskId = "t",
        Env = env.ToImmutableDictionary(e => e.Key, e => e.Value),
    };

    [Fact]
    public void Resolve_SecretReferences_AreReplacedAndOtherValuesKept()
    {
        var resolver = new Resolver(new() { ["token"] = "abc123" });

        var (task, missing) = TaskSecrets.Resolve(Task(("TOKEN", "secret:token"), ("STAGE", "prod")), resolver);

        Assert.Null(missing);
        Assert.Equal("abc123", task.Env["TOKEN"]);
        Assert.Equal("prod", task.Env["STAGE"]);
    }

    [Fact]
    public void Resolve_UnknownSecret_NamesIt()
    {
        var (_, missing) = TaskSecrets.Resolve(Task(("TOKEN", "secret:nope")), new Resolver([]));

        Assert.Equal("nope", missing);
    }

    [Fact]
    public async Task MaskingLog_WritesStarsForEverySecretValue_LongestFirst()
    {
        var resolver = new Resolver(new() { ["short"] = "pass", ["long"] = "password-xyz" });
        var task = Task(("A", "secret:short"), ("B", "secret:long"), ("C", "plain"));
        var inner = new Log();

        var log = TaskSecrets.Masking(inner, TaskSecrets.Values(task, resolver));
        await log.AppendAsync("a=pass b=password-xyz c=plain\n");

        Assert.Equal("a=*** b=*** c=plain\n", inner.Text);
    }

    [Fact]
    public void ConfigurationResolver_ReadsBatchyardSecrets()
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { ["Batchyard:Secrets:db"] = "pw" })
            .Build();
        var resolver = new ConfigurationSecretResolver(configuration);

        Assert.Equal("pw", resolver.Resolve("db"));
        Assert.Null(resolver.Resolve("other"));
    }
}
