using System.Text;

namespace Batchyard.Logs;

/// <summary>
/// Attempt logs as files under <c>{root}/{dag}/{run}/{task}/{attempt}.log</c> (the embedded default).
/// The cursor is a byte offset; reads stop at the last complete UTF-8 character.
/// </summary>
public sealed class FileAttemptLogStore(string root) : IAttemptLogStore
{
    public string Root { get; } = Path.GetFullPath(root);

    public Task<IAttemptLog> OpenAsync(string dagId, string runId, string taskId, int attempt, CancellationToken cancellationToken = default) =>
        // Not cached: a store that kept every log it opened would grow with every attempt ever run. An append
        // returns once its bytes are written, so a read after it sees them.
        Task.FromResult<IAttemptLog>(new FileAttemptLog(PathOf(dagId, runId, taskId, attempt)));

    public async Task<LogPage> ReadAsync(string dagId, string runId, string taskId, int attempt, long cursor, int maxChars, CancellationToken cancellationToken)
    {
        var path = PathOf(dagId, runId, taskId, attempt);
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
        // Looked up on first use: a job that never logs costs no file-system call.
        private long _length = -1;

        public async ValueTask<long> GetLengthAsync(CancellationToken cancellationToken = default)
        {
            await _gate.WaitAsync(cancellationToken);
            try
            {
                return Load();
            }
            finally
            {
                _gate.Release();
            }
        }

        private long Load()
        {
            if (_length < 0)
            {
                _length = File.Exists(path) ? new FileInfo(path).Length : 0;
            }
            return _length;
        }

        public async ValueTask AppendAsync(string text, CancellationToken cancellationToken = default)
        {
            var bytes = Encoding.UTF8.GetBytes(text);
            await _gate.WaitAsync(cancellationToken);
            try
            {
                var before = Load();
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                await using var stream = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete);
                await stream.WriteAsync(bytes, cancellationToken);
                _length = before + bytes.Length;
            }
            finally
            {
                _gate.Release();
            }
        }
    }
}
