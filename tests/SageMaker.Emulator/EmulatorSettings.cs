using Batchyard.Scheduling;

namespace Batchyard.SageMakerEmulator;

/// <summary>How one emulator instance behaves.</summary>
public sealed record EmulatorSettings
{
    /// <summary>Folder holding <c>sagemaker-model-subset.json</c> and <c>logs-model-subset.json</c>.</summary>
    public string ReferenceFolder { get; init; } = FindReferenceFolder();
    /// <summary>Access key id → secret key the emulator accepts signatures from.</summary>
    public IReadOnlyDictionary<string, string> Credentials { get; init; } = new Dictionary<string, string> { [DefaultAccessKeyId] = DefaultSecretKey };
    public string AccountId { get; init; } = "123456789012";
    /// <summary>What a job does when nothing scripts it otherwise.</summary>
    public JobScript DefaultScript { get; init; } = new();
    /// <summary>Largest clock skew accepted in <c>X-Amz-Date</c>.</summary>
    public TimeSpan MaxSkew { get; init; } = TimeSpan.FromMinutes(15);

    public const string DefaultAccessKeyId = "AKIDBATCHYARDEMULATOR";
    public const string DefaultSecretKey = "batchyard-emulator-secret-key";

    /// <summary>
    /// <c>EMULATOR_CREDENTIALS</c> (<c>AKID:SECRET,…</c>), <c>EMULATOR_REFERENCE</c> (folder),
    /// <c>EMULATOR_SCRIPT</c> (default job script, same syntax as the job's environment entry).
    /// </summary>
    public static EmulatorSettings FromEnvironment()
    {
        var settings = new EmulatorSettings();
        if (Environment.GetEnvironmentVariable("EMULATOR_REFERENCE") is { Length: > 0 } folder)
        {
            settings = settings with { ReferenceFolder = folder };
        }
        if (Environment.GetEnvironmentVariable("EMULATOR_CREDENTIALS") is { Length: > 0 } pairs)
        {
            settings = settings with
            {
                Credentials = pairs.Split(',', StringSplitOptions.RemoveEmptyEntries)
                    .Select(p => p.Split(':', 2))
                    .ToDictionary(p => p[0], p => p[1]),
            };
        }
        if (Environment.GetEnvironmentVariable("EMULATOR_SCRIPT") is { Length: > 0 } script)
        {
            settings = settings with { DefaultScript = JobScript.Parse(script, settings.DefaultScript) };
        }
        return settings;
    }

    /// <summary>
    /// The reference data is test data in the repository (<c>tests/reference</c>): walk up from the build
    /// output (or the working directory) to <c>Orleans.sln</c> and take its <c>tests/reference</c>.
    /// </summary>
    public static string FindReferenceFolder(string? repoRoot = null)
    {
        repoRoot ??= new[] { AppContext.BaseDirectory, Directory.GetCurrentDirectory() }
            .SelectMany(Ancestors)
            .FirstOrDefault(d => File.Exists(Path.Combine(d, "Orleans.sln")))
            ?? throw new DirectoryNotFoundException("Orleans.sln was not found above " + AppContext.BaseDirectory + "; set EMULATOR_REFERENCE to the reference data folder");
        return Path.GetFullPath(Path.Combine(repoRoot, "tests", "reference"));
    }

    private static IEnumerable<string> Ancestors(string start)
    {
        for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
        {
            yield return dir.FullName;
        }
    }
}

/// <summary>
/// A job's scripted life: time queued, time running, how it ends, how much it logs and what it leaves behind.
/// Set per job by the environment entry <see cref="EnvironmentKey"/>
/// (<c>queued=1s;run=5s;outcome=failed;reason=OOM;lines=20;output=s3://b/k;metrics=auc:0.9,loss:0.2</c>), per
/// name prefix through <c>POST /_emulator/scripts</c>, or for every job in <see cref="EmulatorSettings"/>.
/// </summary>
public sealed record JobScript
{
    public const string EnvironmentKey = "BATCHYARD_EMULATOR";
    /// <summary>The environment entry whose value is the body the job writes to <see cref="OutputUri"/> (any text, so not a script key).</summary>
    public const string OutputBodyKey = "BATCHYARD_EMULATOR_OUTPUT";

    public TimeSpan Queued { get; init; } = TimeSpan.FromMilliseconds(200);
    public TimeSpan Run { get; init; } = TimeSpan.FromSeconds(1);
    /// <summary><c>Completed</c> or <c>Failed</c>; running past MaxRuntimeInSeconds ends it on its own.</summary>
    public string Outcome { get; init; } = "Completed";
    public string? FailureReason { get; init; }
    public string? ExitMessage { get; init; }
    /// <summary>Log lines each instance writes, spread over its run.</summary>
    public int LogLines { get; init; } = 5;
    /// <summary>Time between StopXJob and Stopped.</summary>
    public TimeSpan StopDelay { get; init; } = TimeSpan.FromMilliseconds(200);
    /// <summary>The attempt the job stands for (a DAG passes <c>{{ attempt }}</c>), with <see cref="FailFirst"/>.</summary>
    public int Attempt { get; init; }
    /// <summary>Attempts up to this number fail: scripts a task that succeeds on a retry.</summary>
    public int FailFirst { get; init; }
    /// <summary>An <c>s3://bucket/key</c> the job writes <see cref="OutputBody"/> to when it completes (as a container would).</summary>
    public string? OutputUri { get; init; }
    public string OutputBody { get; init; } = "{}";
    /// <summary>Spot training: attempts up to this number end <c>Failed</c>/<c>Interrupted</c> (the spot capacity was reclaimed).</summary>
    public int InterruptFirst { get; init; }
    /// <summary>Spot training: the share of the training time that is not billed (<c>1 − billable / training</c>).</summary>
    public double SpotSaving { get; init; } = 0.7;
    /// <summary>Training with a warm pool: how long the emulated pool lives after the job (instead of <c>KeepAlivePeriodInSeconds</c>, so tests need not wait minutes).</summary>
    public TimeSpan? KeepAlive { get; init; }
    public bool Interrupted => Attempt > 0 && Attempt <= InterruptFirst;
    /// <summary>Training: the <c>FinalMetricDataList</c> of the completed job; null leaves it out of the answer.</summary>
    public IReadOnlyList<(string Name, double Value)>? Metrics { get; init; }

    public static JobScript Parse(string text, JobScript defaults)
    {
        var script = defaults;
        foreach (var part in text.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var pieces = part.Split('=', 2, StringSplitOptions.TrimEntries);
            var value = pieces.Length > 1 ? pieces[1] : "";
            script = pieces[0].ToLowerInvariant() switch
            {
                "queued" => script with { Queued = Duration(value) },
                "run" => script with { Run = Duration(value) },
                "outcome" => script with { Outcome = value.Equals("failed", StringComparison.OrdinalIgnoreCase) ? "Failed" : "Completed" },
                "reason" => script with { FailureReason = value },
                "exit" => script with { ExitMessage = value },
                "lines" => script with { LogLines = int.Parse(value, System.Globalization.CultureInfo.InvariantCulture) },
                "stop" => script with { StopDelay = Duration(value) },
                "attempt" => script with { Attempt = int.Parse(value, System.Globalization.CultureInfo.InvariantCulture) },
                "failfirst" => script with { FailFirst = int.Parse(value, System.Globalization.CultureInfo.InvariantCulture) },
                "output" => script with { OutputUri = value },
                "metrics" => script with { Metrics = ParseMetrics(value) },
                "interruptfirst" => script with { InterruptFirst = int.Parse(value, System.Globalization.CultureInfo.InvariantCulture) },
                "keepalive" => script with { KeepAlive = Duration(value) },
                "spotsaving" => script with { SpotSaving = double.Parse(value, System.Globalization.CultureInfo.InvariantCulture) },
                _ => throw new FormatException($"unknown script key '{pieces[0]}'"),
            };
        }
        return script.Attempt > 0 && script.Attempt <= script.FailFirst ? script with { Outcome = "Failed" } : script;
    }

    /// <summary><c>name:value,name:value</c>; an empty text is an empty list.</summary>
    private static List<(string, double)> ParseMetrics(string text) =>
    [
        .. text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(pair =>
        {
            var colon = pair.LastIndexOf(':');
            return colon > 0 && double.TryParse(pair[(colon + 1)..], System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var value)
                ? (pair[..colon], value)
                : throw new FormatException($"'{pair}' is not a metric (name:value)");
        }),
    ];

    private static TimeSpan Duration(string text) =>
        Durations.TryParse(text, out var value) ? value : throw new FormatException($"'{text}' is not a duration");
}

/// <summary>Faults to inject, as shares of calls (0..1). Set through <c>POST /_emulator/faults</c> or in-process.</summary>
public sealed record FaultSettings
{
    public double ThrottleRate { get; init; }
    public double InternalErrorRate { get; init; }
    public double UnavailableRate { get; init; }
    public double SlowRate { get; init; }
    public int SlowMilliseconds { get; init; } = 2000;
    /// <summary>Every new job name is refused <c>ResourceLimitExceeded</c> this many times on create before its create lands.</summary>
    public int ResourceLimitTimes { get; init; }
    /// <summary>A create is refused <c>ResourceLimitExceeded</c> while this many instances of its type are in progress (null: no such limit).</summary>
    public int? ResourceLimitInstances { get; init; }
    /// <summary>Operations the faults apply to; empty means all.</summary>
    public IReadOnlyList<string> Operations { get; init; } = [];
    public int? Seed { get; init; }
}
