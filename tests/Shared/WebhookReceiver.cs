using System.Net;
using System.Text.Json;
using System.Threading.Channels;

namespace Batchyard.Testing;

/// <summary>One POST a <see cref="WebhookReceiver"/> took: its path, <c>X-Batchyard-Event-Id</c> and JSON body.</summary>
public sealed record ReceivedHook(string Path, string? EventId, JsonElement Body);

/// <summary>
/// A local HTTP endpoint standing in for a notifier: answers each POST with <see cref="Always"/> while it is set,
/// else with the next scripted status (200 once the script is done).
/// </summary>
public sealed class WebhookReceiver : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly Channel<ReceivedHook> _received = Channel.CreateUnbounded<ReceivedHook>();
    private readonly Queue<int> _script;
    private readonly Task _loop;

    public WebhookReceiver(params int[] statuses)
    {
        Port = Batchyard.Testing.FreePorts.Next();
        _script = new Queue<int>(statuses);
        _listener.Prefixes.Add($"http://127.0.0.1:{Port}/hooks/");
        _listener.Start();
        _loop = Task.Run(LoopAsync);
    }

    public int Port { get; }

    /// <summary>The status every POST is answered with while set.</summary>
    public int? Always { get; set; }

    public string Url(string name) => $"http://127.0.0.1:{Port}/hooks/{name}";

    /// <summary>The next POST, or a timeout.</summary>
    public async Task<ReceivedHook> NextAsync(TimeSpan? timeout = null) =>
        await _received.Reader.ReadAsync().AsTask().WaitAsync(timeout ?? TimeSpan.FromSeconds(30));

    /// <summary>Forgets the POSTs received so far.</summary>
    public void Drain()
    {
        while (_received.Reader.TryRead(out _))
        {
        }
    }

    /// <summary>Whether a POST arrives within <paramref name="wait"/>.</summary>
    public async Task<bool> AnyWithinAsync(TimeSpan wait)
    {
        using var cts = new CancellationTokenSource(wait);
        try
        {
            return await _received.Reader.WaitToReadAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    private async Task LoopAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException)
            {
                return;
            }
            using var document = await JsonDocument.ParseAsync(context.Request.InputStream);
            var body = document.RootElement.Clone();
            int status;
            lock (_script)
            {
                status = Always ?? (_script.Count > 0 ? _script.Dequeue() : 200);
            }
            _received.Writer.TryWrite(new ReceivedHook(context.Request.Url!.AbsolutePath, context.Request.Headers["X-Batchyard-Event-Id"], body));
            context.Response.StatusCode = status;
            context.Response.Close();
        }
    }

    public void Dispose()
    {
        _listener.Close();
        _loop.Wait(TimeSpan.FromSeconds(5));
    }
}
