using System.Diagnostics;
using System.Globalization;
using Npgsql;

namespace Batchyard.Cluster.Tests;

/// <summary>
/// A PostgreSQL started with scripts/pg-test.sh: the shared test server (<c>BATCHYARD_TEST_PG</c>, or one started
/// for this process), or a private one that a test may stop and start again.
/// </summary>
public sealed class TestPostgres
{
    private static readonly Lazy<Task<TestPostgres>> SharedServer = new(() => StartAsync(useEnvironment: true));

    private TestPostgres(string connectionString, string? directory)
    {
        ConnectionString = connectionString;
        Directory = directory;
    }

    /// <summary>Connection string of the server's default database.</summary>
    public string ConnectionString { get; }

    /// <summary>The server's directory when this process started it (needed to restart it).</summary>
    public string? Directory { get; }

    public static Task<TestPostgres> SharedAsync() => SharedServer.Value;

    /// <summary>A server of this test's own, stopped when the test process exits.</summary>
    public static Task<TestPostgres> PrivateAsync() => StartAsync(useEnvironment: false);

    /// <summary>A new empty database on this server; returns its connection string.</summary>
    public async Task<string> CreateDatabaseAsync()
    {
        var name = "cl_" + Guid.NewGuid().ToString("N")[..16];
        await using var admin = new NpgsqlConnection(ConnectionString);
        await admin.OpenAsync();
        await using var create = new NpgsqlCommand($"CREATE DATABASE {name}", admin);
        await create.ExecuteNonQueryAsync();
        return new NpgsqlConnectionStringBuilder(ConnectionString) { Database = name }.ConnectionString;
    }

    /// <summary>Stops the server at once (as a crash would) and returns what starts it again.</summary>
    public async Task StopImmediatelyAsync()
    {
        var dir = Directory ?? throw new InvalidOperationException("only a private server can be stopped");
        await RunAsync(PgCtl(), "-D", Path.Combine(dir, "data"), "-w", "-m", "immediate", "stop");
    }

    /// <summary>Freezes the server (SIGSTOP to every PostgreSQL process) for <paramref name="stall"/>: connections hang, as in a storage stall.</summary>
    public async Task StallAsync(TimeSpan stall)
    {
        var dir = Directory ?? throw new InvalidOperationException("only a private server can be stalled");
        var postmaster = int.Parse(File.ReadLines(Path.Combine(dir, "data", "postmaster.pid")).First(), CultureInfo.InvariantCulture);
        var pids = new List<int> { postmaster };
        foreach (var stat in System.IO.Directory.GetDirectories("/proc").Select(d => Path.Combine(d, "stat")).Where(File.Exists))
        {
            try
            {
                // "pid (comm) state ppid ...": the parent is the second field after the command's closing parenthesis.
                var text = await File.ReadAllTextAsync(stat);
                var fields = text[(text.LastIndexOf(')') + 2)..].Split(' ');
                if (int.Parse(fields[1], CultureInfo.InvariantCulture) == postmaster)
                {
                    pids.Add(int.Parse(text[..text.IndexOf(' ', StringComparison.Ordinal)], CultureInfo.InvariantCulture));
                }
            }
            catch (IOException)
            {
                // The process ended while it was read.
            }
        }
        await RunAsync("bash", "-c", "kill -STOP " + string.Join(' ', pids));
        try
        {
            await Task.Delay(stall);
        }
        finally
        {
            await RunAsync("bash", "-c", "kill -CONT " + string.Join(' ', pids) + " 2>/dev/null || true");
        }
    }

    public async Task StartAgainAsync()
    {
        var dir = Directory ?? throw new InvalidOperationException("only a private server can be started");
        var port = new NpgsqlConnectionStringBuilder(ConnectionString).Port.ToString(CultureInfo.InvariantCulture);
        // The address scripts/pg-test.sh starts it on; its other settings are in the directory's postgresql.conf.
        await RunAsync(PgCtl(), "-D", Path.Combine(dir, "data"), "-w", "-t", "60", "-l", Path.Combine(dir, "server.log"),
            "-o", $"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={dir}",
            "start");
    }

    public static string RepositoryRoot()
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

    private static async Task<TestPostgres> StartAsync(bool useEnvironment)
    {
        var fromEnvironment = Environment.GetEnvironmentVariable("BATCHYARD_TEST_PG");
        if (useEnvironment && !string.IsNullOrWhiteSpace(fromEnvironment))
        {
            return new TestPostgres(fromEnvironment, null);
        }

        var script = Path.Combine(RepositoryRoot(), "scripts", "pg-test.sh");
        var envFile = Path.Combine(Path.GetTempPath(), $"batchyard-cluster-pg-{Environment.ProcessId}-{Guid.NewGuid():N}.env");
        await RunAsync("bash", script, "start", envFile);
        // Only the server this process started is stopped, through the env file that names its directory.
        AppDomain.CurrentDomain.ProcessExit += (_, _) => RunAsync("bash", script, "stop", envFile).GetAwaiter().GetResult();
        var lines = File.ReadAllLines(envFile);
        string Value(string key) => lines.Single(l => l.StartsWith(key + "=", StringComparison.Ordinal))[(key.Length + 1)..].Trim('\'');
        return new TestPostgres(Value("BATCHYARD_TEST_PG"), Value("BATCHYARD_TEST_PG_DIR"));
    }

    private static string PgCtl()
    {
        var versions = System.IO.Directory.Exists("/usr/lib/postgresql") ? System.IO.Directory.GetDirectories("/usr/lib/postgresql") : [];
        return versions.Select(v => Path.Combine(v, "bin", "pg_ctl")).Where(File.Exists).OrderBy(p => p, StringComparer.Ordinal).LastOrDefault()
            ?? throw new InvalidOperationException("pg_ctl not found under /usr/lib/postgresql");
    }

    private static async Task RunAsync(string program, params string[] arguments)
    {
        // pg_ctl refuses to run as root: run it as the postgres user, as scripts/pg-test.sh does.
        var asPostgres = program != "bash" && Environment.UserName == "root";
        var start = new ProcessStartInfo(asPostgres ? "runuser" : program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = "/",
        };
        if (asPostgres)
        {
            foreach (var a in new[] { "-u", "postgres", "--", program })
            {
                start.ArgumentList.Add(a);
            }
        }
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        start.Environment["BATCHYARD_TEST_PG_OWNER_PID"] = Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not run {program}");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        await process.WaitForExitAsync(timeout.Token);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{program} {string.Join(' ', arguments)} failed ({process.ExitCode}): {await output}{await error}");
        }
    }
}
