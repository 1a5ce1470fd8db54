using System.Collections.Immutable;
using System.Globalization;
using Batchyard.Dags;
using Batchyard.Grains;
using Batchyard.History;
using Batchyard.Scheduling;
using Microsoft.Extensions.Logging;

namespace Batchyard.Runs;

/// <summary>
/// A run's deadlines (<c>deadline:</c> on the DAG and on its tasks). One that passes while the run or task is
/// unfinished marks it late with a journal event, then hands <c>notify.on_late</c> over once; nothing is stopped.
/// The late fact is durable before the hand-over, and the hand-over stays owed (repeated on every wake-up) until
/// the notification grain has taken it, so a crash in between neither loses nor doubles it (its event id is stable).
/// </summary>
public sealed partial class DagRunGrain
{
    /// <summary>How long after its end a run still holds its wake reminder for an <c>on_late</c> hand-over it owes.</summary>
    private static readonly TimeSpan LateHandOverWindow = TimeSpan.FromDays(1);

    /// <summary>The key the run's own deadline is filed under (task keys are never empty).</summary>
    private const string RunDeadlineKey = "";

    // Deadlines to come, earliest first; an entry is checked again when it is due, so stale ones cost nothing.
    private readonly PriorityQueue<string, DateTimeOffset> _deadlines = new();
    private readonly HashSet<string> _lateInFlight = new(StringComparer.Ordinal);
    private ClockTimer? _deadlineTimer;
    private DateTimeOffset? _deadlineTimerAt;
    private DateTimeOffset? _lateDeadline;
    private bool _lateNotified;

    private ClockTimer DeadlineTimer => _deadlineTimer ??= new ClockTimer(time, _life.Token);

    Task IRunCallbacks.OnDeadlineAsync()
    {
        CheckDeadlines();
        return Task.CompletedTask;
    }

    /// <summary>On activation and creation: takes in what the journal says is late and files every deadline still to come.</summary>
    private void TrackDeadlines(FoldedRun? folded)
    {
        if (folded is not null)
        {
            (_lateDeadline, _lateNotified) = (folded.LateDeadline, folded.LateNotified);
        }
        _deadlines.Clear();
        WatchRunDeadline();
        foreach (var task in _tasks.Values)
        {
            WatchTaskDeadline(task);
        }
    }

    /// <summary>
    /// When the run is due: <c>within</c> after its logical date, or after it was queued. Only scheduled and dataset
    /// runs have a logical date that says when their data is there; a manual or backfill run measures from being queued.
    /// </summary>
    private (DateTimeOffset At, string From)? RunDeadline()
    {
        if (S.Dag?.Deadline is not { } deadline)
        {
            return null;
        }
        return deadline.After == DeadlineAnchor.LogicalDate && S.RunType is "scheduled" or "dataset"
            ? (S.LogicalDate + deadline.Within, "logical_date")
            : (S.QueuedAt + deadline.Within, "queued");
    }

    /// <summary>When the task is due: its <c>deadline</c> after its first start since it was last cleared (a retry does not restart the clock).</summary>
    private DateTimeOffset? TaskDeadline(FoldedTask task)
    {
        if (!_defs.TryGetValue(task.Plan.TaskId, out var def) || def.Deadline is not { } within)
        {
            return null;
        }
        for (var i = task.AttemptsAtClear; i < task.Attempts.Count; i++)
        {
            if (task.Attempts[i].StartedAt is { } started)
            {
                return started + within;
            }
        }
        return null;
    }

    private void WatchRunDeadline()
    {
        if (_lateDeadline is null && !_state.IsFinal() && RunDeadline() is { } due)
        {
            _deadlines.Enqueue(RunDeadlineKey, due.At);
            ArmDeadlineTimer();
        }
    }

    /// <summary>Files the task's deadline once it has started (called again on each start; repeats are harmless).</summary>
    private void WatchTaskDeadline(FoldedTask task)
    {
        if (!task.Late && !task.State.IsFinal() && TaskDeadline(task) is { } due)
        {
            _deadlines.Enqueue(task.Key, due);
            ArmDeadlineTimer();
        }
    }

    /// <summary>Marks late whatever is due and unfinished, then re-arms the timer for the next deadline.</summary>
    private void CheckDeadlines()
    {
        _deadlineTimerAt = null;
        var now = time.GetUtcNow();
        while (_deadlines.TryPeek(out var key, out var at) && at <= now)
        {
            _deadlines.Dequeue();
            if (key == RunDeadlineKey)
            {
                if (_lateDeadline is null && !_state.IsFinal() && RunDeadline() is { } due && due.At <= now)
                {
                    MarkRunLate(due.At, due.From, now);
                }
            }
            else if (_tasks.TryGetValue(key, out var task) && !task.Late && !task.State.IsFinal() && TaskDeadline(task) is { } due && due <= now)
            {
                MarkTaskLate(task, due, now);
            }
        }
        ArmDeadlineTimer();
    }

    private void ArmDeadlineTimer()
    {
        if (!_deadlines.TryPeek(out _, out var at))
        {
            _deadlineTimer?.Cancel();
            _deadlineTimerAt = null;
            return;
        }
        if (_deadlineTimerAt is { } armed && armed <= at)
        {
            return;
        }
        _deadlineTimerAt = at;
        var self = this.AsReference<IRunCallbacks>();
        DeadlineTimer.Arm(at, LongestTimer, self.OnDeadlineAsync);
    }

    private void MarkRunLate(DateTimeOffset deadline, string from, DateTimeOffset now)
    {
        _lateDeadline = deadline;
        LogRunLate(_dagId, _runId, Durations.Format(S.Dag!.Deadline!.Within), from);
        _writer.Record(RunEventKinds.Late, null, new LateFact(deadline, from), now);
        _writer.AfterDurable(() =>
        {
            // The DAG grain and live views show the run late (its summary carries it).
            TellDagSoon();
            Publish();
            return Task.CompletedTask;
        });
        HandOverLate(null);
    }

    private void MarkTaskLate(FoldedTask task, DateTimeOffset deadline, DateTimeOffset now)
    {
        task.LateDeadline = deadline;
        LogTaskLate(_dagId, _runId, task.Key, task.Attempts.Count, Durations.Format(_defs[task.Plan.TaskId].Deadline!.Value));
        _writer.Record(RunEventKinds.Late, task.Key, new LateFact(deadline, "first_start"), now);
        _writer.AfterDurable(() =>
        {
            Publish();
            return Task.CompletedTask;
        });
        HandOverLate(task);
    }

    /// <summary>Whether a late fact still waits for its <c>on_late</c> hand-over.</summary>
    private bool LateOwed(FoldedTask? task) =>
        !S.Dag!.Notify.For(NotifyEvents.OnLate).IsEmpty && (task is null ? _lateDeadline is not null && !_lateNotified : task.Late && !task.LateNotified);

    /// <summary>The event ids of the run's <c>on_late</c> notifications (handed over by the deadline code, not as notices).</summary>
    private IEnumerable<string> LateEventIds()
    {
        if (S.Dag is null || S.Dag.Notify.For(NotifyEvents.OnLate).IsEmpty)
        {
            yield break;
        }
        if (_lateDeadline is not null)
        {
            yield return $"{_dagId}/{_runId}/{NotifyEvents.OnLate}";
        }
        foreach (var task in _tasks.Values.Where(t => t.Late).OrderBy(t => t.Key, StringComparer.Ordinal))
        {
            yield return $"{_dagId}/{_runId}/{task.Key}/{NotifyEvents.OnLate}";
        }
    }

    /// <summary>Any hand-over owed that still holds the wake reminder (for a day after the run's end at most).</summary>
    private bool LateHandOversOwed() =>
        (!_state.IsFinal() || _endedAt is not { } ended || time.GetUtcNow() - ended <= LateHandOverWindow)
        && (LateOwed(null) || _tasks.Values.Any(LateOwed));

    /// <summary>After a restart or on a wake-up: hands over again whatever late fact is still owed.</summary>
    private void HandOverLateAgain()
    {
        if (LateOwed(null))
        {
            HandOverLate(null);
        }
        foreach (var task in _tasks.Values)
        {
            if (LateOwed(task))
            {
                HandOverLate(task);
            }
        }
    }

    /// <summary>Once the late fact is durable: asks the notification grain to send it, and records that it took it.</summary>
    private void HandOverLate(FoldedTask? task)
    {
        if (!LateOwed(task))
        {
            return;
        }
        var request = LateNotification(task);
        if (!_lateInFlight.Add(request.EventId))
        {
            return;
        }
        _writer.AfterDurable(async () =>
        {
            try
            {
                await GrainFactory.GetGrain<INotificationGrain>(request.EventId).SendAsync(request);
                if (task is null)
                {
                    _lateNotified = true;
                }
                else
                {
                    task.LateNotified = true;
                }
                _writer.Record(RunEventKinds.LateNotified, task?.Key, new LateNotifiedFact(request.EventId), time.GetUtcNow());
            }
            finally
            {
                _lateInFlight.Remove(request.EventId);
            }
        });
    }

    private NotificationRequest LateNotification(FoldedTask? task)
    {
        var dag = S.Dag!;
        var deadline = task is null ? _lateDeadline!.Value : task.LateDeadline!.Value;
        var due = deadline.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
        var text = task is null
            ? $"Batchyard: {_dagId} run {_runId} is late: not finished {Durations.Format(dag.Deadline?.Within ?? TimeSpan.Zero)} after {(RunDeadline()?.From == "logical_date" ? "its logical date" : "it was queued")} ({due})"
            : $"Batchyard: {_dagId} run {_runId} task {task.Key} is late: not finished {Durations.Format(_defs[task.Plan.TaskId].Deadline ?? TimeSpan.Zero)} after its first start ({due})";
        var facts = ImmutableDictionary<string, string>.Empty
            .Add("logical_date", Json(S.LogicalDate.UtcDateTime.ToString("O", CultureInfo.InvariantCulture)))
            .Add("deadline", Json(due))
            .Add("state", Json(task is null ? JournalJson.StateName(_state) : JournalJson.StateName(task.State)));
        return new NotificationRequest
        {
            EventId = task is null ? $"{_dagId}/{_runId}/{NotifyEvents.OnLate}" : $"{_dagId}/{_runId}/{task.Key}/{NotifyEvents.OnLate}",
            Event = NotifyEvents.OnLate,
            DagId = _dagId,
            RunId = _runId,
            TaskId = task?.Key,
            Notifiers = dag.Notify.For(NotifyEvents.OnLate),
            Text = text,
            Facts = facts,
            At = deadline,
        };
    }

    private static string Json(string text) => System.Text.Json.JsonSerializer.Serialize(text);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{DagId}/{RunId}: late, not finished {Within} after {From}")]
    private partial void LogRunLate(string dagId, string runId, string within, string from);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{DagId}/{RunId}/{TaskId} attempt {Attempt}: late, not finished {Within} after its first start")]
    private partial void LogTaskLate(string dagId, string runId, string taskId, int attempt, string within);
}
