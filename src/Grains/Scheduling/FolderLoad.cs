namespace Batchyard.Scheduling;

/// <summary>
/// Whether this silo is loading its DAGs folder for the first time. While it is, the schedule shards on this silo
/// make runs ahead of their slots one DAG at a time per shard instead of <see cref="SchedulingOptions.FiresInFlight"/>:
/// every-minute DAGs applied within the lead of a slot would otherwise have their runs made during the load, 256 at a
/// time against the load's 64 files, and a folder of 10,000 such DAGs took twice as long to load. The runs are made
/// all the same, the load first: a DAG's run can only be made once its file is applied anyway.
/// </summary>
public sealed class FolderLoad
{
    private int _loading;

    public bool Loading => Volatile.Read(ref _loading) > 0;

    /// <summary>Marks the load begun; disposing the result marks it ended.</summary>
    public IDisposable Begin()
    {
        Interlocked.Increment(ref _loading);
        return new End(this);
    }

    private sealed class End(FolderLoad load) : IDisposable
    {
        private int _done;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _done, 1) == 0)
            {
                Interlocked.Decrement(ref load._loading);
            }
        }
    }
}
