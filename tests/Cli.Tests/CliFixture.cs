using Batchyard.Cli;

namespace Batchyard.Tests;

/// <summary>One running host (with an API key) for the CLI tests, and a way to run the CLI against it.</summary>
public sealed class CliFixture : IAsyncLifetime
{
    public BatchyardTestHost Host { get; private set; } = null!;

    public async Task InitializeAsync() =>
        Host = await BatchyardTestHost.StartAsync(new Dictionary<string, string?> { ["Batchyard:ApiKey"] = BatchyardTestHost.ApiKey });

    public Task DisposeAsync() => Host.DisposeAsync().AsTask();

    /// <summary>Runs <c>batchyard ARGS</c> in this process with BATCHYARD_SERVER and BATCHYARD_TOKEN pointing at the host.</summary>
    public async Task<CliResult> RunAsync(params string[] args) => await RunAsync(args, BatchyardTestHost.ApiKey, CancellationToken.None);

    public async Task<CliResult> RunAsync(string[] args, string? token, CancellationToken cancellationToken)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var environment = new Dictionary<string, string?> { ["BATCHYARD_SERVER"] = Host.HttpUrl, ["BATCHYARD_TOKEN"] = token };
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(90));
        var exitCode = await CliApp.RunAsync(args, output, error, name => environment.GetValueOrDefault(name), timeout.Token, TimeSpan.FromMilliseconds(100));
        return new CliResult(exitCode, output.ToString(), error.ToString());
    }

    /// <summary>Writes a DAG file into a folder of its own and returns its path.</summary>
    public string WriteFile(string name, string text)
    {
        var folder = Path.Combine(Host.Folder, "files", Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(folder);
        var path = Path.Combine(folder, name);
        File.WriteAllText(path, text);
        return path;
    }

    public static string NewDagId(string prefix) => $"{prefix}-{Guid.NewGuid().ToString("N")[..8]}";
}

public sealed record CliResult(int ExitCode, string Output, string Error)
{
    public string[] OutputLines => Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    public override string ToString() => $"exit {ExitCode}\n--- stdout\n{Output}\n--- stderr\n{Error}";
}

[CollectionDefinition(Name)]
public sealed class CliCollection : ICollectionFixture<CliFixture>
{
    public const string Name = "cli";
}
