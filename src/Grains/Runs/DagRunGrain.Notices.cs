using System.Collections.Immutable;
using System.Globalization;
using System.Text.Json;
using Batchyard.Grains;
using Batchyard.History;

namespace Batchyard.Runs;

/// <summary>
/// A run's notifications (<c>notify.on_success</c>, <c>on_failure</c>, <c>on_retry</c>): each is recorded as owed in
/// the journal, in the same append as the fact it tells of, and handed to its notification grain once durable; the
/// grain's acknowledgement is recorded too. Until then the wake reminder stays and every resume hands it again
/// (the grain takes a request once per event id), so a crash between the run's end and the handover loses nothing.
/// </summary>
public sealed partial class DagRunGrain : IRunNotificationsGrain
{
    /// <summary>Every notice of the run by event id, in order; the value says whether its grain has taken it.</summary>
    private readonly List<(NoticeFact Owed, bool Handed)> _notices = [];

    private bool OwesNotices => _notices.Exists(n => !n.Handed);

    public Task<ImmutableArray<string>> GetNotificationIdsAsync() =>
        Task.FromResult(_notices.Select(n => n.Owed.EventId).Concat(LateEventIds()).ToImmutableArray());

    private void FoldNotices(FoldedRun folded) => _notices.AddRange(folded.Notices);

    /// <summary>The run ended: its on_success or on_failure notice (a run cleared and ended again notifies again, as <c>…/on_failure/2</c>).</summary>
    private void NoticeRunEnd(RunState state, RunDetails run)
    {
        var notifyEvent = state == RunState.Succeeded ? NotifyEvents.OnSuccess : state == RunState.Failed ? NotifyEvents.OnFailure : null;
        if (notifyEvent is null || S.Dag!.Notify.For(notifyEvent) is not { IsEmpty: false } notifiers)
        {
            return;
        }
        var failed = run.Tasks.Where(t => t.State.IsFailure()).Select(t => t.TaskId).Distinct().ToList();
        var stateName = JournalJson.StateName(state);
        var text = state == RunState.Succeeded
            ? $"Batchyard: {_dagId} run {_runId} succeeded"
            : $"Batchyard: {_dagId} run {_runId} {stateName}" + (failed.Count > 0 ? $" (failed: {string.Join(", ", failed)})" : "");
        var eventId = $"{_dagId}/{_runId}/{notifyEvent}";
        var ends = _notices.Count(n => n.Owed.Event == notifyEvent && n.Owed.TaskId is null);
        Notice(new NotificationRequest
        {
            EventId = ends == 0 ? eventId : $"{eventId}/{(ends + 1).ToString(CultureInfo.InvariantCulture)}",
            Event = notifyEvent,
            DagId = _dagId,
            RunId = _runId,
            Notifiers = notifiers,
            Text = text,
            Facts = ImmutableDictionary<string, string>.Empty
                .Add("state", JsonSerializer.Serialize(stateName))
                .Add("logical_date", JsonSerializer.Serialize(S.LogicalDate, JournalJson.Options))
                .Add("failed_tasks", JsonSerializer.Serialize(failed)),
            At = _endedAt ?? time.GetUtcNow(),
        });
    }

    /// <summary>An attempt failed and the task will be tried again after <paramref name="delay"/>.</summary>
    private void NoticeRetry(FoldedTask task, AttemptDetails ended, TimeSpan delay)
    {
        if (S.Dag!.Notify.OnRetry is not { IsEmpty: false } notifiers)
        {
            return;
        }
        var attempt = ended.Attempt.ToString(CultureInfo.InvariantCulture);
        Notice(new NotificationRequest
        {
            EventId = $"{_dagId}/{_runId}/{task.Key}/{attempt}/on_retry",
            Event = NotifyEvents.OnRetry,
            DagId = _dagId,
            RunId = _runId,
            TaskId = task.Key,
            Notifiers = notifiers,
            Text = $"Batchyard: {_dagId} run {_runId} task {task.Key} attempt {attempt} {JournalJson.StateName(ended.State)}"
                + (string.IsNullOrEmpty(ended.Reason) ? "" : $" ({ended.Reason})") + $", retrying in {delay}",
            Facts = ImmutableDictionary<string, string>.Empty
                .Add("state", JsonSerializer.Serialize("up_for_retry"))
                .Add("logical_date", JsonSerializer.Serialize(S.LogicalDate, JournalJson.Options))
                .Add("attempt", attempt)
                .Add("reason", JsonSerializer.Serialize(ended.Reason))
                .Add("next_attempt_at", JsonSerializer.Serialize(task.NextAttemptAt, JournalJson.Options)),
            At = ended.EndedAt ?? time.GetUtcNow(),
        });
    }

    /// <summary>Records <paramref name="request"/> as owed (once per event id) and hands it over once that is durable.</summary>
    private void Notice(NotificationRequest request)
    {
        if (request.Notifiers.IsEmpty || _notices.Exists(n => n.Owed.EventId == request.EventId))
        {
            return;
        }
        var owed = new NoticeFact(request.EventId, Handed: false, request.Event, request.TaskId, request.Notifiers, request.Text, request.Facts, request.At);
        _notices.Add((owed, false));
        _writer.Record(RunEventKinds.Notice, request.TaskId, owed, time.GetUtcNow());
        _writer.AfterDurable(() => HandOverAsync(owed));
    }

    /// <summary>After a restart: hands over again every notice not yet acknowledged.</summary>
    private void HandOverNoticesAgain()
    {
        foreach (var (owed, _) in _notices.Where(n => !n.Handed).ToList())
        {
            _writer.AfterDurable(() => HandOverAsync(owed));
        }
    }

    private async Task HandOverAsync(NoticeFact owed)
    {
        await GrainFactory.GetGrain<INotificationGrain>(owed.EventId).SendAsync(new NotificationRequest
        {
            EventId = owed.EventId,
            Event = owed.Event ?? "",
            DagId = _dagId,
            RunId = _runId,
            TaskId = owed.TaskId,
            Notifiers = owed.Notifiers ?? [],
            Text = owed.Text ?? "",
            Facts = owed.Facts ?? ImmutableDictionary<string, string>.Empty,
            At = owed.At,
        });
        var index = _notices.FindIndex(n => n.Owed.EventId == owed.EventId);
        if (index >= 0 && !_notices[index].Handed)
        {
            _notices[index] = (owed, true);
            _writer.Record(RunEventKinds.Notice, owed.TaskId, new NoticeFact(owed.EventId, Handed: true), time.GetUtcNow());
            _writer.AfterDurable(RetireIfDoneAsync);
        }
    }
}
