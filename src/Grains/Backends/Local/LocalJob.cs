using System.Collections.Immutable;
using System.Diagnostics;

namespace Batchyard.Backends.Local;

/// <summary>One local job: its status history (which watchers follow) and, while it runs, its process.</summary>
internal sealed class LocalJob(JobRequest request, int memoryMb, JobStatus first)
{
    private readonly Lock _gate = new();
    private readonly SemaphoreSlim _logWrite = new(1, 1);
    private readonly TaskCompletionSource _ended = Signal(first.IsFinal);
    private readonly TaskCompletionSource _leftQueue = Signal(first.State != JobState.Queued);
    private ImmutableList<JobStatus> _history = [first];
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private (JobState State, string Reason)? _stop;
    private Process? _process;
    private JobCgroup? _cgroup;

    public JobRequest Request => request;

    public int MemoryMb => memoryMb;

    /// <summary>Whole GPUs the job needs (0: none).</summary>
    public int Gpus => request.Task.Resources.Gpus ?? 0;

    /// <summary>Set by the backend (under its own lock) when the memory budget and the GPUs let the job start.</summary>
    public bool Admitted { get; set; }

    /// <summary>The GPUs handed to the job when it was admitted (under the backend's lock); released when it ends.</summary>
    public ImmutableArray<string> HeldGpus { get; set; } = [];

    /// <summary>What the job waits for while queued, as last published (under the backend's lock).</summary>
    public WaitingFor WaitingFor { get; set; }

    public JobStatus Status
    {
        get
        {
            lock (_gate)
            {
                return _history[^1];
            }
        }
    }

    /// <summary>Completes when the job reached a final status.</summary>
    public Task Ended => _ended.Task;

    /// <summary>Completes when the job is Running or already final.</summary>
    public Task LeftQueue => _leftQueue.Task;

    /// <summary>Why the job is being ended early (stop or timeout), if it is.</summary>
    public (JobState State, string Reason)? StopRequest
    {
        get
        {
            lock (_gate)
            {
                return _stop;
            }
        }
    }

    /// <summary>Records a status; nothing follows a final one.</summary>
    public void Publish(JobStatus status)
    {
        TaskCompletionSource changed;
        lock (_gate)
        {
            if (_history[^1].IsFinal)
            {
                return;
            }
            _history = _history.Add(status);
            changed = _changed;
            _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        changed.SetResult();
        if (status.State != JobState.Queued)
        {
            _leftQueue.TrySetResult();
        }
        if (status.IsFinal)
        {
            _ended.TrySetResult();
        }
    }

    /// <summary>Yields the current status, then every later one, ending with the final one.</summary>
    public async IAsyncEnumerable<JobStatus> FollowAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        int next;
        lock (_gate)
        {
            next = _history.Count - 1;
        }
        while (true)
        {
            ImmutableList<JobStatus> history;
            Task changed;
            lock (_gate)
            {
                history = _history;
                changed = _changed.Task;
            }
            while (next < history.Count)
            {
                var status = history[next++];
                yield return status;
                if (status.IsFinal)
                {
                    yield break;
                }
            }
            await changed.WaitAsync(cancellationToken);
        }
    }

    /// <summary>Remembers the running process; true when a stop arrived while it was starting (the caller kills it).</summary>
    public bool Attach(Process process, JobCgroup? cgroup)
    {
        lock (_gate)
        {
            _process = process;
            _cgroup = cgroup;
            return _stop is not null;
        }
    }

    /// <summary>Asks the job to end early; true when there is a running process to kill now.</summary>
    public bool RequestStop(JobState state, string reason)
    {
        lock (_gate)
        {
            if (_history[^1].IsFinal)
            {
                return false;
            }
            _stop ??= (state, reason);
            return _process is not null;
        }
    }

    /// <summary>The running process and its cgroup, or nulls before start / after the end.</summary>
    public (Process? Process, JobCgroup? Cgroup) Running
    {
        get
        {
            lock (_gate)
            {
                return (_process, _cgroup);
            }
        }
    }

    public void Detach()
    {
        lock (_gate)
        {
            _process = null;
        }
    }

    /// <summary>stdout and stderr go to one log; appends are serialized so lines never interleave.</summary>
    public async Task AppendLineAsync(string line)
    {
        await _logWrite.WaitAsync();
        try
        {
            await request.Log.AppendAsync(line + "\n");
        }
        finally
        {
            _logWrite.Release();
        }
    }

    private static TaskCompletionSource Signal(bool alreadySet)
    {
        var signal = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (alreadySet)
        {
            signal.SetResult();
        }
        return signal;
    }
}
