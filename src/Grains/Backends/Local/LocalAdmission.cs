using System.Collections.Immutable;

namespace Batchyard.Backends.Local;

/// <summary>
/// Which waiting local jobs may start: the host's memory budget and its whole GPUs, shared in arrival order.
/// A job that cannot start keeps what it waits for: later jobs may start only with the memory and GPUs left
/// after every earlier waiting job's share, so no job is ever overtaken into waiting longer (a job waiting for a
/// GPU lets CPU jobs behind it run, but never on the memory it will need). Not thread-safe: the backend calls it
/// under its own lock.
/// </summary>
internal sealed class LocalAdmission(int memoryCapacityMb, HostGpus gpus)
{
    private readonly LinkedList<LocalJob> _waiting = [];
    private readonly Dictionary<string, LocalJob?> _gpuHolders = gpus.Ids.ToDictionary(id => id, _ => (LocalJob?)null, StringComparer.Ordinal);

    public int MemoryCapacityMb => memoryCapacityMb;

    public int MemoryInUseMb { get; private set; }

    public HostGpus Gpus => gpus;

    public int GpusInUse => _gpuHolders.Values.Count(h => h is not null);

    /// <summary>Each GPU and the job holding it, or null when free; in the host's order.</summary>
    public ImmutableArray<(string Id, LocalJob? Holder)> GpuHolders => [.. gpus.Ids.Select(id => (id, _gpuHolders[id]))];

    public void Enqueue(LocalJob job) => _waiting.AddLast(job);

    /// <summary>Takes a job out of the queue; false when it was not waiting (it runs, or ended).</summary>
    public bool Remove(LocalJob job) => _waiting.Remove(job);

    /// <summary>Empties the queue (shutdown); returns who was waiting.</summary>
    public List<LocalJob> RemoveAll()
    {
        var all = _waiting.ToList();
        _waiting.Clear();
        return all;
    }

    /// <summary>
    /// Admits, in order, every waiting job that fits what earlier waiting jobs leave, giving it its memory and
    /// GPUs; returns them, and the jobs still waiting whose reason changed (to publish).
    /// </summary>
    public (List<LocalJob> Admitted, List<LocalJob> NewReasons) Admit()
    {
        var admitted = new List<LocalJob>();
        var newReasons = new List<LocalJob>();
        var memoryLeft = memoryCapacityMb - MemoryInUseMb;
        var gpusFree = gpus.Ids.Length - GpusInUse;
        var gpusLeft = gpusFree;
        for (var node = _waiting.First; node is not null;)
        {
            var next = node.Next;
            var job = node.Value;
            var memoryFits = job.MemoryMb <= memoryLeft;
            // gpusLeft goes below 0 behind a job waiting for GPUs; a job that needs none still fits.
            var gpusFit = job.Gpus == 0 || job.Gpus <= gpusLeft;
            if (memoryFits && gpusFit)
            {
                _waiting.Remove(node);
                MemoryInUseMb += job.MemoryMb;
                job.HeldGpus = Take(job);
                job.Admitted = true;
                admitted.Add(job);
                gpusFree -= job.Gpus;
            }
            else
            {
                var waitingFor = new WaitingFor(!memoryFits, job.Gpus > 0 && !gpusFit ? gpusFree : null, job.Gpus > 0 && !gpusFit && job.Gpus <= gpusFree);
                if (waitingFor != job.WaitingFor)
                {
                    job.WaitingFor = waitingFor;
                    newReasons.Add(job);
                }
            }
            // Whether it started or waits, what it needs is no longer there for the jobs behind it.
            memoryLeft -= job.MemoryMb;
            gpusLeft -= job.Gpus;
            node = next;
        }
        return (admitted, newReasons);
    }

    /// <summary>Gives back what an admitted job held. Called once, when it ended.</summary>
    public void Release(LocalJob job)
    {
        MemoryInUseMb -= job.MemoryMb;
        foreach (var id in job.HeldGpus)
        {
            if (_gpuHolders.TryGetValue(id, out var holder) && ReferenceEquals(holder, job))
            {
                _gpuHolders[id] = null;
            }
        }
    }

    /// <summary>Why a waiting job waits, in words: <c>waiting for 2 GPUs: 1 of 2 free</c>.</summary>
    public string Reason(LocalJob job)
    {
        var parts = new List<string>(2);
        if (job.WaitingFor.Memory)
        {
            parts.Add($"waiting for memory: needs {job.MemoryMb} MB of the {memoryCapacityMb} MB budget ({LocalBackendOptions.SectionName}:MemoryCapacityMb)");
        }
        if (job.WaitingFor.GpusFree is { } free)
        {
            parts.Add($"waiting for {job.Gpus} GPU{(job.Gpus == 1 ? "" : "s")}: {free} of {gpus.Ids.Length} free"
                + (job.WaitingFor.GpusPromised ? ", promised to earlier jobs" : ""));
        }
        return parts.Count == 0 ? "waiting to start" : string.Join("; ", parts);
    }

    /// <summary>The lowest free GPUs in the host's order.</summary>
    private ImmutableArray<string> Take(LocalJob job)
    {
        if (job.Gpus == 0)
        {
            return [];
        }
        var taken = gpus.Ids.Where(id => _gpuHolders[id] is null).Take(job.Gpus).ToImmutableArray();
        foreach (var id in taken)
        {
            _gpuHolders[id] = job;
        }
        return taken;
    }
}

/// <summary>What a waiting job waits for: memory, and GPUs (how many are free when it does; promised: enough are free, but earlier jobs will take them).</summary>
internal readonly record struct WaitingFor(bool Memory, int? GpusFree, bool GpusPromised);
