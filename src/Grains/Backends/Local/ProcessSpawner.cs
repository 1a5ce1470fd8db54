using System.Collections.Concurrent;
using System.Diagnostics;

namespace Batchyard.Backends.Local;

/// <summary>
/// Starts every job process from one long-lived thread. <c>setpriv --pdeathsig</c> fires when the
/// <em>thread</em> that forked the child exits, and thread-pool threads retire when idle, which would
/// kill healthy jobs; a dedicated thread lives as long as the backend.
/// </summary>
internal sealed class ProcessSpawner : IDisposable
{
    private readonly BlockingCollection<(ProcessStartInfo Info, TaskCompletionSource<Process> Started)> _requests = [];

    public ProcessSpawner()
    {
        var thread = new Thread(Run) { IsBackground = true, Name = "batchyard-local-spawner" };
        thread.Start();
    }

    public Task<Process> StartAsync(ProcessStartInfo info)
    {
        var started = new TaskCompletionSource<Process>(TaskCreationOptions.RunContinuationsAsynchronously);
        _requests.Add((info, started));
        return started.Task;
    }

    private void Run()
    {
        foreach (var (info, started) in _requests.GetConsumingEnumerable())
        {
            try
            {
                var process = Process.Start(info);
                if (process is null)
                {
                    started.SetException(new InvalidOperationException($"{info.FileName} did not start"));
                }
                else
                {
                    started.SetResult(process);
                }
            }
            catch (Exception e)
            {
                started.SetException(e);
            }
        }
    }

    public void Dispose() => _requests.CompleteAdding();
}
