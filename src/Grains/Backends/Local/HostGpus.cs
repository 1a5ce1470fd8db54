using System.Collections.Immutable;
using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace Batchyard.Backends.Local;

/// <summary>
/// The GPUs the local backend may hand out on this host: <c>Batchyard:Local:Gpus</c> when set, else the whole
/// GPUs <c>nvidia-smi -L</c> lists, else none. <see cref="Source"/> says which, in words for /readyz and load errors.
/// </summary>
public sealed partial record HostGpus(ImmutableArray<string> Ids, string Source)
{
    /// <summary>The configuration key, for messages.</summary>
    public const string ConfigKey = LocalBackendOptions.SectionName + ":Gpus";

    private static readonly TimeSpan NvidiaSmiTimeout = TimeSpan.FromSeconds(10);

    /// <summary>
    /// What the host offers. <paramref name="configured"/> is the comma-separated list of <see cref="ConfigKey"/>
    /// (empty or <c>none</c>: no GPUs, without asking nvidia-smi); null asks <paramref name="nvidiaSmi"/> (a path, or
    /// null to look for <c>nvidia-smi</c> on PATH), and a missing or failing nvidia-smi means none.
    /// </summary>
    public static HostGpus Find(string? configured, string? nvidiaSmi = null)
    {
        if (configured is not null)
        {
            var ids = ParseConfigured(configured);
            return new(ids, ids.IsEmpty ? $"none: {ConfigKey} is empty" : ConfigKey);
        }
        var executable = nvidiaSmi ?? FindOnPath("nvidia-smi");
        if (executable is null)
        {
            return new([], $"none: {ConfigKey} is not set and nvidia-smi is not installed");
        }
        var (output, why) = Run(executable, "-L");
        if (output is null)
        {
            return new([], $"none: {ConfigKey} is not set and nvidia-smi -L failed: {why}");
        }
        var found = ParseNvidiaSmiList(output).Select(g => g.Index.ToString(CultureInfo.InvariantCulture)).ToImmutableArray();
        return new(found, found.IsEmpty ? $"none: {ConfigKey} is not set and nvidia-smi -L lists no GPU" : "nvidia-smi -L");
    }

    /// <summary><c>0,1</c>, <c>0, 1</c> or <c>GPU-uuid,GPU-uuid</c>: each id once, in the order given; <c>none</c> or empty is no GPU.</summary>
    public static ImmutableArray<string> ParseConfigured(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = text.Split([',', ' ', '\t', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return ids is ["none"] ? [] : [.. ids.Distinct(StringComparer.Ordinal)];
    }

    /// <summary>
    /// The whole GPUs in <c>nvidia-smi -L</c>'s output, lines such as
    /// <c>GPU 0: NVIDIA A100-SXM4-40GB (UUID: GPU-5f1b…)</c>; MIG slices (indented <c>MIG …</c> lines) and anything else are skipped.
    /// </summary>
    public static ImmutableArray<NvidiaGpu> ParseNvidiaSmiList(string output)
    {
        ArgumentNullException.ThrowIfNull(output);
        var gpus = ImmutableArray.CreateBuilder<NvidiaGpu>();
        foreach (var line in output.Split('\n'))
        {
            var match = GpuLine().Match(line.TrimEnd('\r'));
            if (match.Success && int.TryParse(match.Groups["index"].ValueSpan, NumberStyles.None, CultureInfo.InvariantCulture, out var index))
            {
                gpus.Add(new NvidiaGpu(index, match.Groups["name"].Value.Trim(), match.Groups["uuid"].Success ? match.Groups["uuid"].Value.Trim() : null));
            }
        }
        return gpus.ToImmutable();
    }

    [GeneratedRegex(@"^GPU (?<index>\d+):\s*(?<name>.*?)\s*(?:\(UUID:\s*(?<uuid>[^)]*)\))?\s*$")]
    private static partial Regex GpuLine();

    /// <summary>The program's stdout when it exits 0 within the timeout; otherwise null and why.</summary>
    private static (string? Output, string Why) Run(string executable, string argument)
    {
        try
        {
            using var process = new Process
            {
                StartInfo = new ProcessStartInfo(executable, [argument])
                {
                    UseShellExecute = false,
                    RedirectStandardOutput = true,
                    RedirectStandardError = true,
                    RedirectStandardInput = true,
                },
            };
            process.Start();
            process.StandardInput.Close();
            var output = process.StandardOutput.ReadToEndAsync();
            var error = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(NvidiaSmiTimeout))
            {
                process.Kill(entireProcessTree: true);
                return (null, $"no answer within {NvidiaSmiTimeout.TotalSeconds:0} s");
            }
            process.WaitForExit();
            return process.ExitCode == 0
                ? (output.Result, "")
                : (null, $"exit code {process.ExitCode}: {error.Result.Trim()}");
        }
        catch (Exception e) when (e is Win32Exception or InvalidOperationException or IOException)
        {
            return (null, e.Message);
        }
    }

    private static string? FindOnPath(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "/usr/local/bin:/usr/bin:/bin")
            .Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(d => Path.Combine(d, program))
            .FirstOrDefault(p => Path.IsPathRooted(p) && File.Exists(p));
}

/// <summary>One line of <c>nvidia-smi -L</c>.</summary>
public sealed record NvidiaGpu(int Index, string Name, string? Uuid);
