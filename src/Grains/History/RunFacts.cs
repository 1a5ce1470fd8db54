using System.Collections.Immutable;
using System.Text.Json;
using Batchyard.Runs;

namespace Batchyard.History;

/// <summary>A task of a run as the run was created: enough to list it before it has done anything.</summary>
public sealed record PlannedTask(string TaskId, ImmutableArray<string> Upstream, string Backend, int? MapIndex = null);

/// <summary>Payload of <see cref="RunEventKinds.TaskMapped"/>: the items (JSON texts) a mapped task's instances run over.</summary>
public sealed record TaskMappedFact(ImmutableArray<string> Items);

/// <summary>How task instances are keyed inside a run: a task's id, or <c>id[index]</c> for an instance of a mapped task.</summary>
public static class TaskKeys
{
    public static string Of(string taskId, int? mapIndex) => mapIndex is { } i ? $"{taskId}[{i.ToString(System.Globalization.CultureInfo.InvariantCulture)}]" : taskId;
}

/// <summary>
/// Payload of <see cref="RunEventKinds.Notice"/>: a notification the run owes (recorded with the fact it is about,
/// in the same append), or, with <paramref name="Handed"/>, that its notification grain has taken it.
/// </summary>
public sealed record NoticeFact(
    string EventId,
    bool Handed,
    string? Event = null,
    string? TaskId = null,
    ImmutableArray<string>? Notifiers = null,
    string? Text = null,
    ImmutableDictionary<string, string>? Facts = null,
    DateTimeOffset At = default);

/// <summary>Payload of <see cref="RunEventKinds.RunCreated"/>.</summary>
public sealed record RunCreatedFact(
    DateTimeOffset LogicalDate,
    ImmutableDictionary<string, string> Params,
    string RunType,
    string DagVersion,
    DateTimeOffset QueuedAt,
    ImmutableArray<PlannedTask> Tasks,
    string? TriggeredBy = null);

/// <summary>Payload of <see cref="RunEventKinds.RunState"/>.</summary>
public sealed record RunStateFact(RunState State, DateTimeOffset? StartedAt, DateTimeOffset? EndedAt);

/// <summary>Payload of <see cref="RunEventKinds.Late"/>: the deadline that passed and what it was measured from (<c>logical_date</c>, <c>queued</c>, <c>first_start</c>).</summary>
public sealed record LateFact(DateTimeOffset Deadline, string MeasuredFrom);

/// <summary>Payload of <see cref="RunEventKinds.LateNotified"/>: the notification's event id.</summary>
public sealed record LateNotifiedFact(string EventId);

/// <summary>
/// Payload of <see cref="RunEventKinds.Task"/>: the task's whole small state after the change, plus the one
/// attempt the change touched (attempts are folded by number, so history is never rewritten).
/// </summary>
public sealed record TaskFact(
    TaskState State,
    int AttemptsAtClear,
    DateTimeOffset? NextAttemptAt,
    DateTimeOffset? Deadline,
    ImmutableArray<int> StopPending,
    AttemptDetails? Attempt);

/// <summary>A task instance rebuilt from the journal, with what only the run grain needs (deadline, stops owed).</summary>
public sealed class FoldedTask(PlannedTask plan)
{
    public PlannedTask Plan { get; } = plan;

    /// <summary>The task's key in its run (<see cref="TaskKeys"/>).</summary>
    public string Key { get; } = TaskKeys.Of(plan.TaskId, plan.MapIndex);

    public TaskState State { get; set; } = TaskState.Pending;

    /// <summary>A mapped task's items (JSON texts) since it last expanded; null before.</summary>
    public ImmutableArray<string>? MapItems { get; set; }

    /// <summary>A mapped task's instances, by index (those of its last expansion).</summary>
    public List<FoldedTask> Instances { get; } = [];
    public List<AttemptDetails> Attempts { get; } = [];
    public int AttemptsAtClear { get; set; }
    public DateTimeOffset? NextAttemptAt { get; set; }
    public DateTimeOffset? Deadline { get; set; }
    public HashSet<int> StopPending { get; } = [];

    /// <summary>The deadline it passed unfinished (<see cref="RunEventKinds.Late"/>); null while it is not late.</summary>
    public DateTimeOffset? LateDeadline { get; set; }

    public bool Late => LateDeadline is not null;

    /// <summary>Its <c>on_late</c> notification was handed over (<see cref="RunEventKinds.LateNotified"/>).</summary>
    public bool LateNotified { get; set; }

    public TaskInstanceDetails ToDetails() => new()
    {
        TaskId = Plan.TaskId,
        State = State,
        Attempts = [.. Attempts],
        NextAttemptAt = State == TaskState.UpForRetry ? NextAttemptAt : null,
        Upstream = Plan.Upstream,
        Backend = Plan.Backend,
        MapIndex = Plan.MapIndex,
        MapCount = MapItems?.Length,
        Late = Late,
    };

    /// <summary>The latest successful attempt's output (JSON text), or null.</summary>
    public string? Output() => Outputs.Latest(Attempts);

    /// <summary>
    /// Expands a mapped task over <paramref name="items"/>: instances that exist keep their attempts (a cleared
    /// instance is pending again already), missing ones are made, and those past the new end are dropped.
    /// Returns the dropped ones, so the run can forget them too.
    /// </summary>
    public List<FoldedTask> Expand(ImmutableArray<string> items)
    {
        MapItems = items;
        var dropped = Instances.Skip(items.Length).ToList();
        if (dropped.Count > 0)
        {
            Instances.RemoveRange(items.Length, dropped.Count);
        }
        for (var i = Instances.Count; i < items.Length; i++)
        {
            Instances.Add(new FoldedTask(Plan with { MapIndex = i }));
        }
        return dropped;
    }

    public void Apply(TaskFact fact)
    {
        State = fact.State;
        AttemptsAtClear = fact.AttemptsAtClear;
        NextAttemptAt = fact.NextAttemptAt;
        Deadline = fact.Deadline;
        StopPending.Clear();
        StopPending.UnionWith(fact.StopPending);
        if (fact.Attempt is { } attempt)
        {
            while (Attempts.Count < attempt.Attempt)
            {
                Attempts.Add(new AttemptDetails { Attempt = Attempts.Count + 1, State = AttemptState.Cancelled });
            }
            Attempts[attempt.Attempt - 1] = attempt;
        }
    }

    public TaskFact ToFact(AttemptDetails? touched) =>
        new(State, AttemptsAtClear, NextAttemptAt, Deadline, [.. StopPending.Order()], touched);
}

/// <summary>A run rebuilt from its journal: the one fold that the run grain and every history read share.</summary>
public sealed class FoldedRun
{
    public RunCreatedFact? Created { get; private set; }
    public RunState State { get; private set; } = RunState.Queued;
    public DateTimeOffset? StartedAt { get; private set; }
    public DateTimeOffset? EndedAt { get; private set; }
    public long LastSeq { get; private set; }

    /// <summary>The deadline the run passed unfinished; null while it is not late.</summary>
    public DateTimeOffset? LateDeadline { get; private set; }

    public bool Late => LateDeadline is not null;

    /// <summary>The run's <c>on_late</c> notification was handed over.</summary>
    public bool LateNotified { get; private set; }

    public Dictionary<string, FoldedTask> Tasks { get; } = new(StringComparer.Ordinal);

    /// <summary>The run's notifications by event id, in the order they arose, each with whether its grain has taken it.</summary>
    public List<(NoticeFact Owed, bool Handed)> Notices { get; } = [];

    public static FoldedRun From(IEnumerable<RunEvent> events)
    {
        var run = new FoldedRun();
        foreach (var e in events)
        {
            run.Apply(e);
        }
        return run;
    }

    public void Apply(RunEvent e)
    {
        LastSeq = Math.Max(LastSeq, e.Seq);
        switch (e.Kind)
        {
            case RunEventKinds.RunCreated:
                Created = RunFactJson.Read<RunCreatedFact>(e.Payload);
                foreach (var plan in Created.Tasks)
                {
                    Tasks.TryAdd(plan.TaskId, new FoldedTask(plan));
                }
                break;
            case RunEventKinds.RunState:
                var state = RunFactJson.Read<RunStateFact>(e.Payload);
                (State, StartedAt, EndedAt) = (state.State, state.StartedAt, state.EndedAt);
                break;
            case RunEventKinds.Task when e.TaskId is { } taskId && Tasks.TryGetValue(taskId, out var task):
                task.Apply(RunFactJson.Read<TaskFact>(e.Payload));
                break;
            case RunEventKinds.TaskMapped when e.TaskId is { } taskId && Tasks.TryGetValue(taskId, out var mapped):
                foreach (var gone in mapped.Expand(RunFactJson.Read<TaskMappedFact>(e.Payload).Items))
                {
                    Tasks.Remove(gone.Key);
                }
                foreach (var instance in mapped.Instances)
                {
                    Tasks.TryAdd(instance.Key, instance);
                }
                break;
            case RunEventKinds.Late when e.TaskId is null:
                LateDeadline = RunFactJson.Read<LateFact>(e.Payload).Deadline;
                break;
            case RunEventKinds.Late when Tasks.TryGetValue(e.TaskId, out var late):
                late.LateDeadline = RunFactJson.Read<LateFact>(e.Payload).Deadline;
                break;
            case RunEventKinds.LateNotified when e.TaskId is null:
                LateNotified = true;
                break;
            case RunEventKinds.LateNotified when Tasks.TryGetValue(e.TaskId, out var notified):
                notified.LateNotified = true;
                break;
            case RunEventKinds.Notice:
                var notice = RunFactJson.Read<NoticeFact>(e.Payload);
                var known = Notices.FindIndex(n => n.Owed.EventId == notice.EventId);
                if (!notice.Handed && known < 0)
                {
                    Notices.Add((notice, false));
                }
                else if (notice.Handed && known >= 0)
                {
                    Notices[known] = (Notices[known].Owed, true);
                }
                break;
        }
    }

    /// <summary>The run as the API shows it; null before its creation is in the journal.</summary>
    public RunDetails? ToDetails(string dagId, string runId) => Created is not { } created ? null : new RunDetails
    {
        DagId = dagId,
        RunId = runId,
        State = State,
        LogicalDate = created.LogicalDate,
        Params = created.Params,
        QueuedAt = created.QueuedAt,
        StartedAt = StartedAt,
        EndedAt = EndedAt,
        RunType = created.RunType,
        TriggeredBy = created.TriggeredBy,
        DagVersion = created.DagVersion,
        Tasks = Entries(created.Tasks.Select(t => Tasks[t.TaskId]), Tasks.Count),
        CostUsd = AttemptCost.Sum(Tasks.Values.SelectMany(t => t.Attempts).Select(a => a.Cost)),
        Late = Late,
    };

    /// <summary>The tasks' entries in the API, in order: each task's own, then (for a mapped task) one per instance.</summary>
    public static ImmutableArray<TaskInstanceDetails> Entries(IEnumerable<FoldedTask> tasks, int count)
    {
        var entries = ImmutableArray.CreateBuilder<TaskInstanceDetails>(count);
        foreach (var task in tasks)
        {
            entries.Add(task.ToDetails());
            foreach (var instance in task.Instances)
            {
                entries.Add(instance.ToDetails());
            }
        }
        return entries.DrainToImmutable();
    }
}

/// <summary>Journal payloads to and from JSON.</summary>
public static class RunFactJson
{
    public static string Write<T>(T fact) => JsonSerializer.Serialize(fact, JournalJson.Options);

    public static T Read<T>(string payload) =>
        JsonSerializer.Deserialize<T>(payload, JournalJson.Options) ?? throw new JsonException($"empty {typeof(T).Name} payload");
}
