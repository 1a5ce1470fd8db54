using Batchyard.History;

namespace Batchyard.Runs;

/// <summary>
/// A run grain's side of the journal: events are recorded at once and written in batches, one write in flight
/// at a time, so that a burst of task changes costs one append; actions that reach outside the grain wait for
/// every event recorded before them to be durable. Runs on the grain's scheduler: no locks needed.
/// </summary>
internal sealed class RunJournalWriter
{
    private IRunJournal? _journal;
    private string _dagId = "";
    private string _runId = "";
    private CancellationToken _token;
    private Action<Exception> _onEffectFailed = _ => { };
    private List<RunEvent> _events = [];
    private List<Func<Task>> _effects = [];
    private Task _loop = Task.CompletedTask;
    private bool _running;
    private bool _held;

    /// <summary>The sequence number of the last event recorded.</summary>
    public long Seq { get; set; }

    public void Bind(Grain grain, IRunJournal journal, CancellationToken token, Action<Exception> onEffectFailed)
    {
        (_dagId, _runId) = Batchyard.Grains.RunKeys.ParseRun(grain.GetPrimaryKeyString());
        (_journal, _token, _onEffectFailed) = (journal, token, onEffectFailed);
    }

    /// <summary>Records one event; it is written with whatever else is recorded in the same moment.</summary>
    public void Record<T>(string kind, string? taskId, T fact, DateTimeOffset at)
    {
        _events.Add(new RunEvent { DagId = _dagId, RunId = _runId, Seq = ++Seq, Kind = kind, At = at, TaskId = taskId, Payload = RunFactJson.Write(fact) });
        Kick();
    }

    /// <summary>Runs <paramref name="effect"/> once every event recorded so far is durable.</summary>
    public void AfterDurable(Func<Task> effect)
    {
        _effects.Add(effect);
        Kick();
    }

    /// <summary>Completes once everything recorded so far is durable and its effects have run (it ends a <see cref="Hold"/>).</summary>
    public Task FlushedAsync()
    {
        _held = false;
        Kick();
        return _loop;
    }

    /// <summary>
    /// Writes nothing (and so runs no effect) until the next <see cref="FlushedAsync"/>: thousands of runs begun at
    /// one slot record their start first and write it when they go on, so the begins do not queue behind the writes.
    /// </summary>
    public void Hold() => _held = true;

    private void Kick()
    {
        if (!_running && !_held)
        {
            _running = true;
            _loop = LoopAsync();
        }
    }

    /// <summary>
    /// Starts every effect of one batch before awaiting any: a batch launching two thousand tasks orders two
    /// thousand supervisors at once, not one round trip after another. Each effect is idempotent and ordered
    /// only after the events before it, so their order among themselves does not matter.
    /// </summary>
    private async Task RunEffectsAsync(List<Func<Task>> effects)
    {
        var pending = new List<Task>(effects.Count);
        foreach (var effect in effects)
        {
            try
            {
                var task = effect();
                if (task.IsCompletedSuccessfully)
                {
                    continue;
                }
                pending.Add(task);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                _onEffectFailed(ex);
            }
        }
        foreach (var task in pending)
        {
            try
            {
                await task;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                _onEffectFailed(ex);
            }
        }
    }

    private async Task LoopAsync()
    {
        try
        {
            // Let the current turn record the rest of its changes first: they go in the same append.
            await Task.Yield();
            while (_events.Count > 0 || _effects.Count > 0)
            {
                var batch = _events;
                var effects = _effects;
                (_events, _effects) = ([], []);
                if (batch.Count > 0)
                {
                    await _journal!.AppendAsync(batch, _token);
                }
                if (effects.Count > 0)
                {
                    await RunEffectsAsync(effects);
                }
            }
        }
        finally
        {
            _running = false;
        }
    }
}
