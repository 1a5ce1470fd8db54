using System.Collections.Concurrent;
using System.Collections.Immutable;
using Batchyard.Backends;
using Batchyard.Dags;
using Batchyard.Grains;
using Batchyard.Silo.Hosting;
using Microsoft.Extensions.Options;

namespace Batchyard.Silo.Loading;

/// <summary>
/// Loads every DAG file of the DAGs folder at start, then follows the folder: a changed file is re-applied,
/// a refused file never replaces the last good version (its problems go to the log and the DAG's state),
/// a deleted file removes its DAG (the history stays).
/// </summary>
public sealed partial class DagFolderLoader(
    IOptions<BatchyardOptions> options,
    IGrainFactory grains,
    BackendCatalog backends,
    Batchyard.Scheduling.FolderLoad folderLoad,
    IHostEnvironment environment,
    ILogger<DagFolderLoader> logger) : BackgroundService
{
    private readonly ConcurrentDictionary<string, (string Hash, string? DagId)> _files = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _scanGate = new(1, 1);
    private readonly TaskCompletionSource _firstScan = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(2);
    private volatile bool _retrySoon;

    public string Folder { get; } = Path.GetFullPath(Path.Combine(environment.ContentRootPath, options.Value.DagsFolder));

    /// <summary>Completes when every file of the folder has been read once (readiness waits for it).</summary>
    public Task FirstScan => _firstScan.Task;

    /// <summary>The last scan that changed something: files read and parsed, files applied, and how long each part took.</summary>
    public ScanTimes? LastScan { get; private set; }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!Directory.Exists(Folder))
        {
            LogNoFolder(Folder);
            Directory.CreateDirectory(Folder);
        }

        using var changed = new SemaphoreSlim(0);
        using var watcher = new FileSystemWatcher(Folder) { IncludeSubdirectories = false, NotifyFilter = NotifyFilters.FileName | NotifyFilters.LastWrite | NotifyFilters.Size };
        FileSystemEventHandler onChange = (_, _) => changed.Release();
        watcher.Changed += onChange;
        watcher.Created += onChange;
        watcher.Deleted += onChange;
        watcher.Renamed += (_, _) => changed.Release();
        watcher.EnableRaisingEvents = true;

        try
        {
            // The first scan goes before runs made ahead of their slots (see FolderLoad).
            using var loading = folderLoad.Begin();
            await ScanAsync(stoppingToken);
        }
        catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
        {
            LogScanFailed(ex);
            _retrySoon = true;
        }
        if (!_retrySoon)
        {
            _firstScan.TrySetResult();
        }
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await changed.WaitAsync(_retrySoon ? RetryDelay : options.Value.DagsRescanInterval, stoppingToken);
                // Editors write a file in several steps: let them finish before reading.
                await Task.Delay(TimeSpan.FromMilliseconds(200), stoppingToken);
                while (changed.CurrentCount > 0)
                {
                    await changed.WaitAsync(stoppingToken);
                }
                await ScanAsync(stoppingToken);
                if (!_retrySoon)
                {
                    _firstScan.TrySetResult();
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                LogScanFailed(ex);
            }
        }
    }

    /// <summary>Reads the folder now and applies what changed.</summary>
    public async Task ScanAsync(CancellationToken cancellationToken)
    {
        await _scanGate.WaitAsync(cancellationToken);
        try
        {
            var present = Directory.EnumerateFiles(Folder)
                .Where(f => f.EndsWith(".yaml", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".yml", StringComparison.OrdinalIgnoreCase))
                .Order(StringComparer.Ordinal)
                .ToList();
            _retrySoon = false;
            var started = System.Diagnostics.Stopwatch.GetTimestamp();
            // Read and parse every changed file in parallel, then apply them: files of different DAGs at once
            // (10,000 files load in seconds), files naming the same DAG one after another in name order, so
            // that the last one wins as it always has.
            var parallel = new ParallelOptions { MaxDegreeOfParallelism = LoadParallelism, CancellationToken = cancellationToken };
            var read = new ConcurrentBag<(int Order, ReadFile File)>();
            await Parallel.ForEachAsync(present.Select((path, order) => (path, order)), parallel, async (item, token) =>
            {
                if (await ReadFileAsync(item.path, token) is { } file)
                {
                    read.Add((item.order, file));
                }
            });
            var parsed = System.Diagnostics.Stopwatch.GetElapsedTime(started);
            var groups = read.OrderBy(r => r.Order).Select(r => r.File).GroupBy(f => f.TargetId ?? f.Path, StringComparer.Ordinal);
            await Parallel.ForEachAsync(groups, parallel, async (group, token) =>
            {
                foreach (var file in group)
                {
                    try
                    {
                        await ApplyFileAsync(file);
                    }
                    catch (Exception ex) when (!token.IsCancellationRequested)
                    {
                        // The cluster may still be forming (or storage away): the file is read again shortly.
                        LogLoadFailed(Path.GetFileName(file.Path), ex.Message);
                        _retrySoon = true;
                    }
                }
            });
            if (!read.IsEmpty)
            {
                LastScan = new ScanTimes(present.Count, read.Count, parsed, System.Diagnostics.Stopwatch.GetElapsedTime(started) - parsed);
                LogScanned(read.Count, present.Count, (long)LastScan.ReadAndParse.TotalMilliseconds, (long)LastScan.Apply.TotalMilliseconds);
            }
            foreach (var gone in _files.Keys.Except(present, StringComparer.Ordinal).ToList())
            {
                if (_files.TryRemove(gone, out var entry) && entry.DagId is { } dagId && !_files.Values.Any(v => v.DagId == dagId))
                {
                    LogRemoved(Path.GetFileName(gone), dagId);
                    await grains.GetGrain<IDagGrain>(dagId).DeleteAsync();
                }
            }
        }
        finally
        {
            _scanGate.Release();
        }
    }

    /// <summary>
    /// Files read and parsed, then applied, at once at most: parsing is CPU, applying is mostly waiting on grains
    /// (10,000 daily DAGs applied in 7.3 s at 64 on 2 cores, 8.6 s at 16).
    /// </summary>
    private static int LoadParallelism => Math.Max(8, Environment.ProcessorCount * 32);

    /// <summary>A file read and parsed, not yet applied; <see cref="TargetId"/> is the DAG it changes.</summary>
    private sealed record ReadFile(string Path, string Hash, (string Hash, string? DagId) Known, DagParseResult Result, string? TargetId);

    /// <summary>Reads and parses a file; null when it is unreadable or unchanged since it was last applied.</summary>
    private async Task<ReadFile?> ReadFileAsync(string path, CancellationToken cancellationToken)
    {
        string text;
        try
        {
            text = await File.ReadAllTextAsync(path, cancellationToken);
        }
        catch (IOException ex)
        {
            LogUnreadable(path, ex.Message);
            return null;
        }
        var hash = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(text)));
        if (_files.TryGetValue(path, out var known) && known.Hash == hash)
        {
            return null;
        }
        var defaultId = Path.GetFileNameWithoutExtension(path);
        var result = DagParser.Parse(Path.GetFileName(path), text, backends, defaultId);
        var target = result.Dag?.DagId ?? known.DagId ?? (DagIdPattern().IsMatch(defaultId) ? defaultId : null);
        return new ReadFile(path, hash, known, result, target);
    }

    private async Task ApplyFileAsync(ReadFile file)
    {
        var (path, hash, known, result, _) = file;
        var fileName = Path.GetFileName(path);
        if (result.Dag is { } dag)
        {
            if (known.DagId is { } oldId && oldId != dag.DagId)
            {
                await grains.GetGrain<IDagGrain>(oldId).DeleteAsync();
            }
            await grains.GetGrain<IDagGrain>(dag.DagId).ApplyAsync(dag);
            _files[path] = (hash, dag.DagId);
            LogLoaded(fileName, dag.DagId, dag.Tasks.Length);
            return;
        }

        var problems = result.Problems.Select(p => p.ToString()).ToImmutableArray();
        foreach (var problem in problems)
        {
            LogProblem(problem);
        }
        // The refused file's DAG keeps its last good version; the problems are shown on it.
        var dagId = file.TargetId;
        if (dagId is not null)
        {
            await grains.GetGrain<IDagGrain>(dagId).RecordRefusedAsync(problems);
        }
        _files[path] = (hash, known.DagId ?? dagId);
    }

    [System.Text.RegularExpressions.GeneratedRegex("^[a-z0-9][a-z0-9_-]{0,62}$")]
    private static partial System.Text.RegularExpressions.Regex DagIdPattern();

    [LoggerMessage(Level = LogLevel.Information, Message = "DAGs folder: {Changed} of {Files} files changed, read and parsed in {ParseMs} ms, applied in {ApplyMs} ms")]
    private partial void LogScanned(int changed, int files, long parseMs, long applyMs);

    [LoggerMessage(Level = LogLevel.Information, Message = "DAGs folder {Folder} does not exist; created it empty")]
    private partial void LogNoFolder(string folder);

    [LoggerMessage(Level = LogLevel.Information, Message = "{File}: loaded DAG {DagId} ({Count} tasks)")]
    private partial void LogLoaded(string file, string dagId, int count);

    [LoggerMessage(Level = LogLevel.Error, Message = "refused: {Problem}")]
    private partial void LogProblem(string problem);

    [LoggerMessage(Level = LogLevel.Information, Message = "{File} was deleted: removed DAG {DagId}")]
    private partial void LogRemoved(string file, string dagId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "cannot read {Path}: {Error}")]
    private partial void LogUnreadable(string path, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{File}: loading failed, trying again shortly: {Error}")]
    private partial void LogLoadFailed(string file, string error);

    [LoggerMessage(Level = LogLevel.Error, Message = "scanning the DAGs folder failed")]
    private partial void LogScanFailed(Exception ex);
}

/// <summary>One scan of the DAGs folder that changed something: its files, those read and parsed, and the time each part took.</summary>
public sealed record ScanTimes(int Files, int Changed, TimeSpan ReadAndParse, TimeSpan Apply);
