using System.Diagnostics;

namespace Batchyard.Postgres.Tests;

/// <summary>
/// The PostgreSQL the tests use: <c>BATCHYARD_TEST_PG</c> when set (started by scripts/pg-test.sh), otherwise one
/// started for this test process with the same script and stopped when the process exits.
/// </summary>
internal static class PostgresServer
{
    private static readonly Lazy<Task<string>> Server = new(StartAsync);

    public static Task<string> ConnectionStringAsync() => Server.Value;

    private static async Task<string> StartAsync()
    {
        var fromEnvironment = Environment.GetEnvironmentVariable("BATCHYARD_TEST_PG");
        if (!string.IsNullOrWhiteSpace(fromEnvironment))
        {
            return fromEnvironment;
        }

        var script = Path.Combine(FindRepositoryRoot(), "scripts", "pg-test.sh");
        var envFile = Path.Combine(Path.GetTempPath(), $"batchyard-pg-tests-{Environment.ProcessId}.env");
        await RunScriptAsync(script, "start", envFile);
        // Only the server this process started is stopped, through the env file that names its directory.
        AppDomain.CurrentDomain.ProcessExit += (_, _) => RunScriptAsync(script, "stop", envFile).GetAwaiter().GetResult();
        var line = File.ReadAllLines(envFile).Single(l => l.StartsWith("BATCHYARD_TEST_PG=", StringComparison.Ordinal));
        return line["BATCHYARD_TEST_PG=".Length..].Trim('\'');
    }

    private static async Task RunScriptAsync(string script, string verb, string envFile)
    {
        var start = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(script);
        start.ArgumentList.Add(verb);
        start.ArgumentList.Add(envFile);
        start.Environment["BATCHYARD_TEST_PG_OWNER_PID"] = Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture);
        using var process = Process.Start(start) ?? throw new InvalidOperationException("could not run bash");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        await process.WaitForExitAsync(timeout.Token);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"pg-test.sh {verb} failed ({process.ExitCode}): {await output}{await error}");
        }
    }

    private static string FindRepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Orleans.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("Orleans.sln not found above " + AppContext.BaseDirectory);
    }
}
