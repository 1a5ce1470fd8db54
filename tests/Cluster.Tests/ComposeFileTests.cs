using System.Diagnostics;

namespace Batchyard.Cluster.Tests;

/// <summary>
/// The compose file parses offline as CI checks it (<c>docker-compose config -q</c>, no engine, no .env), and
/// passes the key from the environment to every Batchyard service when one is set.
/// </summary>
public sealed class ComposeFileTests
{
    [Fact]
    public async Task Config_WithoutAKeyInTheEnvironment_Parses()
    {
        var (code, output) = await ComposeAsync(key: null, "config", "-q");

        Assert.True(code == 0, $"docker-compose config -q exited {code}: {output}");
    }

    [Fact]
    public async Task Config_WithAKey_GivesItToBothSilosAndTheDashboard()
    {
        const string key = "compose-test-key-0123456789abcdef";

        var (code, output) = await ComposeAsync(key, "config");

        Assert.True(code == 0, $"docker-compose config exited {code}: {output}");
        Assert.Equal(3, output.Split('\n').Count(line => line.Trim() == $"Batchyard__ApiKey: {key}"));
    }

    private static async Task<(int Code, string Output)> ComposeAsync(string? key, params string[] args)
    {
        var root = TestPostgres.RepositoryRoot();
        var start = new ProcessStartInfo("docker-compose")
        {
            WorkingDirectory = root,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.ArgumentList.Add("-f");
        start.ArgumentList.Add(Path.Combine(root, "docker-compose.yml"));
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        start.Environment.Remove("BATCHYARD_API_KEY");
        if (key is not null)
        {
            start.Environment["BATCHYARD_API_KEY"] = key;
        }
        using var process = Process.Start(start) ?? throw new InvalidOperationException("docker-compose did not start");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await stdout + await stderr);
    }
}
