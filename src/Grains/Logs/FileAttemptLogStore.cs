using System.Collections.Concurrent;
using System.Text;

namespace Batchyard.Logs;

/// <summary>
/// Attempt logs as files under <c>{root}/{dag}/{run}/{task}/{attempt}.log</c> (the embedded default).
/// The cursor is a byte offset; reads stop at the last complete UTF-8 character.
/// </summary>
public sealed class FileAttemptLogStore(string root) : IAttemptLogStore
{
    private readonly ConcurrentDictionary<string, FileAttemptLog> _open = new(StringComparer.Ordinal);

    public string Root { get; } = Path.GetFullPath(root);

    public Task<IAttemptLog> OpenAsync(string dagId, string runId, string taskId, int attempt, CancellationToken cancellationToken = default) =>
        Task.FromResult<IAttemptLog>(_open.GetOrAdd(PathOf(dagId, runId, taskId, attempt), path => new FileAttemptLog(path)));

    public async Task<LogPage> ReadAsync(string dagId, string runId, string taskId, int attempt, long cursor, int maxChars, CancellationToken cancellationToken)
    {
        var path = PathOf(dagId, runId, taskId, attempt);
        if (_open.TryGetValue(path, out var log))
        {
            await log.FlushAsync(cancellationToken);
        }
        if (!File.Exists(path))
        {
            return new LogPage("", cursor);
        }

        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        if (cursor >= stream.Length)
        {
            return new LogPage("", cursor);
        }
        stream.Seek(Math.Max(0, cursor), SeekOrigin.Begin);
        var buffer = new byte[Math.Min((long)maxChars * 4, stream.Length - cursor)];
        var read = await stream.ReadAtLeastAsync(buffer, buffer.Length, throwOnEndOfStream: false, cancellationToken);
        var complete = CompleteUtf8Length(buffer.AsSpan(0, read));
        var text = Encoding.UTF8.GetString(buffer, 0, complete);
        if (text.Length > maxChars)
        {
            text = text[..maxChars];
            complete = Encoding.UTF8.GetByteCount(text);
        }
        return new LogPage(text, cursor + complete);
    }

    private string PathOf(string dagId, string runId, string taskId, int attempt) =>
        Path.Combine(Root, Safe(dagId), Safe(runId), Safe(taskId), $"{attempt}.log");

    private static string Safe(string part) => part.Replace('/', '_').Replace('\\', '_').Replace("..", "_", StringComparison.Ordinal);

    private static int CompleteUtf8Length(ReadOnlySpan<byte> bytes)
    {
        // Step back over a trailing, partly written multi-byte character so that it is read whole next time.
        var end = bytes.Length;
        for (var back = 1; back <= Math.Min(3, end); back++)
        {
            var b = bytes[end - back];
            if ((b & 0xC0) == 0x80)
            {
                continue;
            }
            var needed = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1;
            return needed > back ? end - back : end;
        }
        return end;
    }

    private sealed class FileAttemptLog(string path) : IAttemptLog
    {
        private readonly SemaphoreSlim _gate = new(1, 1);
        private long _length = File.Exists(path) ? new FileInfo(path).Length : 0;

        public long Length => Interlocked.Read(ref _length);

        public async ValueTask AppendAsync(string text, CancellationToken cancellationToken = default)
        {
            var bytes = Encoding.UTF8.GetBytes(text);
            await _gate.WaitAsync(cancellationToken);
            try
            {
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                await using var stream = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete);
                await stream.WriteAsync(bytes, cancellationToken);
                Interlocked.Add(ref _length, bytes.Length);
            }
            finally
            {
                _gate.Release();
            }
        }

        public async Task FlushAsync(CancellationToken cancellationToken)
        {
            // Appends are written through at once; waiting on the gate orders a read after a write in flight.
            await _gate.WaitAsync(cancellationToken);
            _gate.Release();
        }
    }
}
