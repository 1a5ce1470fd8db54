using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Batchyard.Cluster.Tests;

/// <summary>
/// One real Batchyard silo process (the built src/Silo) in PostgreSQL mode on loopback, with its own free
/// ports; its output is kept for assertions and for the failure message.
/// </summary>
public sealed class SiloProcess : IAsyncDisposable
{
    private readonly StringBuilder _output = new();
    private readonly Process _process;

    private SiloProcess(string name, Process process, int httpPort, int siloPort)
    {
        Name = name;
        _process = process;
        SiloPort = siloPort;
        BaseAddress = new Uri($"http://127.0.0.1:{httpPort}");
        Api = new SiloApi(BaseAddress);
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public string Name { get; }

    /// <summary>Where its HTTP API (and dashboard) listens.</summary>
    public Uri BaseAddress { get; }

    public int Pid => _process.Id;

    public int SiloPort { get; }

    public SiloApi Api { get; }

    public bool HasExited => _process.HasExited;

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>The settings every test silo shares; a test adds or overrides its own.</summary>
    public static Dictionary<string, string> Settings(string connectionString, string dagsFolder) => new()
    {
        ["Batchyard__Storage"] = "Postgres",
        ["ConnectionStrings__Postgres"] = connectionString,
        ["Batchyard__DagsFolder"] = dagsFolder,
        ["Batchyard__AdvertisedAddress"] = "127.0.0.1",
        // Short reminders: a stalled run or a lost cron tick is picked up within seconds, not a minute.
        ["Batchyard__WakePeriod"] = "00:00:04",
        ["Batchyard__Local__MemoryCapacityMb"] = "4096",
        ["Logging__LogLevel__Default"] = "Information",
        ["Logging__LogLevel__Microsoft.AspNetCore"] = "Warning",
        ["Logging__LogLevel__Orleans"] = "Warning",
        ["Logging__Console__FormatterName"] = "simple",
        ["Logging__Console__FormatterOptions__TimestampFormat"] = "HH:mm:ss.fff ",
        ["DOTNET_gcServer"] = "0",
    };

    /// <summary>Starts a silo (without waiting for it to be ready).</summary>
    public static SiloProcess Start(string name, IReadOnlyDictionary<string, string> settings, int? siloPort = null)
    {
        var dll = SiloDll();
        var httpPort = FreePort();
        var port = siloPort ?? FreePort();
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetDirectoryName(dll)!,
        };
        start.ArgumentList.Add(dll);
        foreach (var (key, value) in settings)
        {
            start.Environment[key] = value;
        }
        start.Environment["Urls"] = $"http://127.0.0.1:{httpPort}";
        start.Environment["Batchyard__SiloPort"] = port.ToString(CultureInfo.InvariantCulture);
        start.Environment["Batchyard__GatewayPort"] = FreePort().ToString(CultureInfo.InvariantCulture);
        start.Environment["Batchyard__GrpcUrl"] = $"http://127.0.0.1:{FreePort()}";
        var process = Process.Start(start) ?? throw new InvalidOperationException("dotnet did not start");
        return new SiloProcess(name, process, httpPort, port);
    }

    /// <summary>Waits until <c>/readyz</c> answers ready (silo joined, storage reachable, DAGs loaded).</summary>
    public async Task WaitReadyAsync(TimeSpan timeout)
    {
        try
        {
            await Wait.UntilAsync(async () =>
            {
                if (_process.HasExited)
                {
                    throw new InvalidOperationException($"{Name} exited with {_process.ExitCode}:\n{Tail()}");
                }
                return await Api.IsReadyAsync();
            }, timeout, $"{Name} to be ready");
        }
        catch (TimeoutException ex)
        {
            // The process's output as it is when the wait gives up, not when it began.
            throw new TimeoutException($"{ex.Message}\n{Tail()}", ex);
        }
    }

    /// <summary>kill -9: no shutdown, no goodbye to the cluster.</summary>
    public void KillHard() => _process.Kill();

    /// <summary>SIGTERM, as a container runtime or systemd stops a service.</summary>
    public void Terminate()
    {
        using var kill = Process.Start("kill", ["-TERM", Pid.ToString(CultureInfo.InvariantCulture)]);
        kill.WaitForExit();
    }

    public async Task<int> WaitExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cts.Token);
        return _process.ExitCode;
    }

    /// <summary>The parent pid of a local job's process: the silo that started it.</summary>
    public static int ParentOf(int jobPid)
    {
        var stat = File.ReadAllText($"/proc/{jobPid}/stat");
        // Fields after the parenthesised command name: state, ppid, ...
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return int.Parse(fields[1], CultureInfo.InvariantCulture);
    }

    public string Tail(int lines = 60) => string.Join('\n', Output.Split('\n').TakeLast(lines));

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
        // Kept for a look after a failure: the test output only shows the tail.
        var logs = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "batchyard-cluster-logs")).FullName;
        await File.WriteAllTextAsync(Path.Combine(logs, $"{Name}-{SiloPort}.log"), Output);
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (_output)
        {
            _output.Append(line).Append('\n');
        }
    }

    private static int FreePort() => Batchyard.Testing.FreePorts.Next();

    private static string SiloDll()
    {
#if DEBUG
        const string configuration = "Debug";
#else
        const string configuration = "Release";
#endif
        var dll = Path.Combine(TestPostgres.RepositoryRoot(), "src", "Silo", "bin", configuration, "net10.0", "Batchyard.Silo.dll");
        return File.Exists(dll) ? dll : throw new FileNotFoundException("build src/Silo first", dll);
    }
}
