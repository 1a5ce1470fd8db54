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
/// a deleted file removes its DAG (the history stays). In a cluster, the silo holding the folder's lease
/// (<see cref="IDagFolderLeaseGrain"/>) does this; the others take over when it goes away.
/// </summary>
public sealed partial class DagFolderLoader(
    IOptions<BatchyardOptions> options,
    IGrainFactory grains,
    BackendCatalog backends,
    Batchyard.Scheduling.FolderLoad folderLoad,
    IHostEnvironment environment,
    ILocalSiloDetails silo,
    ILogger<DagFolderLoader> logger) : BackgroundService
{
    private readonly ConcurrentDictionary<string, (string Hash, string? DagId)> _files = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _scanGate = new(1, 1);
    private readonly TaskCompletionSource _firstScan = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(2);
    /// <summary>How often a silo that does not hold the lease asks for it once the DAGs are loaded.</summary>
    private static readonly TimeSpan LeasePoll = TimeSpan.FromSeconds(5);
    /// <summary>Released on a change in the folder, and when this silo takes the lease or loses it.</summary>
    private readonly SemaphoreSlim _changed = new(0);
    private readonly SemaphoreSlim _askGate = new(1, 1);
    private volatile bool _retrySoon;
    private volatile bool _holding;
    private volatile bool _takenOver;
    private bool _toldLoaded;
    private bool _followingLogged;
    private IDisposable _loading = NoLoad.Instance;

    public string Folder { get; } = Path.GetFullPath(Path.Combine(environment.ContentRootPath, options.Value.DagsFolder));

    /// <summary>
    /// Completes when every file of the folder has been read once, by this silo or by the silo holding the
    /// folder's lease (readiness waits for it).
    /// </summary>
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

        using var watcher = new FileSystemWatcher(Folder) { IncludeSubdirectories = false, NotifyFilter = NotifyFilters.FileName | NotifyFilters.LastWrite | NotifyFilters.Size };
        FileSystemEventHandler onChange = (_, _) => _changed.Release();
        watcher.Changed += onChange;
        watcher.Created += onChange;
        watcher.Deleted += onChange;
        watcher.Renamed += (_, _) => _changed.Release();
        watcher.EnableRaisingEvents = true;

        // Until the cluster's DAGs are loaded (by this silo or the lease's holder), runs made ahead of their
        // slots on this silo go one at a time per shard (see FolderLoad).
        _loading = folderLoad.Begin();
        using var leaseLoop = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        var lease = HoldLeaseAsync(leaseLoop.Token);
        try
        {
            await FollowFolderAsync(stoppingToken);
        }
        finally
        {
            await leaseLoop.CancelAsync();
            await lease;
            _loading.Dispose();
            if (_holding)
            {
                await ReleaseLeaseAsync();
            }
        }
    }

    /// <summary>While this silo holds the lease: reads the whole folder once, then what changes in it.</summary>
    private async Task FollowFolderAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                if (!_holding)
                {
                    // Another silo loads the folder; this one waits for the lease to come to it (a file change
                    // wakes it too, and it waits again).
                    await _changed.WaitAsync(stoppingToken);
                    continue;
                }
                if (!_takenOver)
                {
                    await _changed.WaitAsync(_retrySoon ? RetryDelay : options.Value.DagsRescanInterval, stoppingToken);
                    // Editors write a file in several steps: let them finish before reading.
                    await Task.Delay(TimeSpan.FromMilliseconds(200), stoppingToken);
                    while (_changed.CurrentCount > 0)
                    {
                        await _changed.WaitAsync(stoppingToken);
                    }
                }
                if (!_holding)
                {
                    continue;
                }
                if (_takenOver)
                {
                    // Taken (at start, or from a holder that went away): the whole folder is read again, as the
                    // holder may have applied changes this silo did not see. Unchanged DAGs are not written again.
                    _takenOver = false;
                    while (_changed.Wait(0))
                    {
                    }
                    foreach (var path in _files.Keys)
                    {
                        _files[path] = (string.Empty, _files[path].DagId);
                    }
                }
                await ScanAsync(stoppingToken);
                if (!_retrySoon)
                {
                    MarkLoaded();
                    if (!_toldLoaded)
                    {
                        // The other silos wait for this (readiness): tell the lease now, not at the next renewal.
                        _toldLoaded = true;
                        try
                        {
                            await AskLeaseAsync();
                        }
                        catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
                        {
                            // The next renewal tells it.
                            LogLeaseUnanswered(ex.Message);
                        }
                    }
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                LogScanFailed(ex);
                _retrySoon = true;
            }
        }
    }

    /// <summary>Takes or renews the lease every third of its term; asks every second while the cluster's DAGs are not loaded yet.</summary>
    private async Task HoldLeaseAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await AskLeaseAsync();
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
            {
                // The cluster may be forming, or the lease's silo just died: asked again shortly.
                LogLeaseUnanswered(ex.Message);
            }
            try
            {
                var again = _holding ? DagFolderLeaseGrain.Term / 3 : FirstScan.IsCompleted ? LeasePoll : TimeSpan.FromSeconds(1);
                await Task.Delay(again, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    private async Task AskLeaseAsync()
    {
        // Asked by the renewal loop, and once by the scan that loaded the folder: one answer at a time.
        await _askGate.WaitAsync();
        try
        {
            Heard(await Lease.HoldAsync(silo.SiloAddress, _toldLoaded));
        }
        finally
        {
            _askGate.Release();
        }
    }

    private void Heard(DagFolderLease lease)
    {
        var held = lease.IsHeldBy(silo.SiloAddress);
        if (held != _holding)
        {
            if (held)
            {
                LogLeaseTaken(Folder);
                _takenOver = true;
            }
            else
            {
                LogLeaseFollowing(lease.Holder.ToString(), Folder);
            }
            _holding = held;
            _changed.Release();
        }
        else if (!held && !_followingLogged)
        {
            LogLeaseFollowing(lease.Holder.ToString(), Folder);
        }
        _followingLogged = true;
        if (!held && lease.Loaded)
        {
            MarkLoaded();
        }
    }

    private async Task ReleaseLeaseAsync()
    {
        try
        {
            await Lease.ReleaseAsync(silo.SiloAddress).WaitAsync(TimeSpan.FromSeconds(2));
        }
        catch (Exception ex)
        {
            // Shutting down: the lease ends with its term, or at once when the cluster sees this silo leave.
            LogLeaseUnanswered(ex.Message);
        }
    }

    private void MarkLoaded()
    {
        _firstScan.TrySetResult();
        _loading.Dispose();
    }

    private IDagFolderLeaseGrain Lease => grains.GetGrain<IDagFolderLeaseGrain>(0);

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

    [LoggerMessage(Level = LogLevel.Information, Message = "DAGs folder {Folder}: this silo holds its lease, it loads the folder and follows its changes")]
    private partial void LogLeaseTaken(string folder);

    [LoggerMessage(Level = LogLevel.Information, Message = "DAGs folder {Folder}: silo {Holder} holds its lease and loads it; this silo takes over if that one goes away")]
    private partial void LogLeaseFollowing(string holder, string folder);

    [LoggerMessage(Level = LogLevel.Debug, Message = "DAGs folder lease: no answer yet, asking again shortly: {Error}")]
    private partial void LogLeaseUnanswered(string error);

    [LoggerMessage(Level = LogLevel.Error, Message = "scanning the DAGs folder failed")]
    private partial void LogScanFailed(Exception ex);
}

/// <summary>A load that has ended (before the first begins).</summary>
file sealed class NoLoad : IDisposable
{
    public static readonly NoLoad Instance = new();

    public void Dispose()
    {
    }
}

/// <summary>One scan of the DAGs folder that changed something: its files, those read and parsed, and the time each part took.</summary>
public sealed record ScanTimes(int Files, int Changed, TimeSpan ReadAndParse, TimeSpan Apply);
