using System.Collections.Immutable;
using Batchyard.Dags;
using Batchyard.Runs;
using Batchyard.Scheduling;

namespace Batchyard.Silo.Api;

/// <summary>A DAG in the list.</summary>
public sealed record DagListItem(
    string DagId,
    bool Paused,
    string? Schedule,
    string Timezone,
    DateTimeOffset? NextRunAt,
    RunState? LastRunState,
    string? Description,
    string? Owner,
    ImmutableArray<string> Tags,
    ImmutableArray<string> LoadErrors)
{
    public static DagListItem From(DagInfo info) => new(
        info.DagId,
        info.Paused,
        info.Definition?.Schedule,
        info.Definition?.Timezone ?? "UTC",
        info.NextRunAt,
        info.LastRunState,
        info.Definition?.Description,
        info.Definition?.Owner,
        info.Definition?.Tags ?? [],
        info.LoadErrors);

    public static DagListItem From(DagSummary dag)
    {
        ArgumentNullException.ThrowIfNull(dag);
        return new(dag.DagId, dag.Paused, dag.Schedule, dag.Timezone, dag.NextRunAt, dag.LastRunState, dag.Description, dag.Owner, dag.Tags, dag.LoadErrors);
    }
}

/// <summary>
/// The filters of the DAG list, as a transport received them: <c>tag</c> and <c>owner</c> exact, <c>state</c>
/// the newest run's state (or <c>none</c> for never run), <c>q</c> a case-insensitive text search, <c>paused</c>.
/// </summary>
public sealed record DagFilters(string? Tag = null, string? Owner = null, string? State = null, string? Search = null, bool? Paused = null)
{
    /// <summary>The state filter's word for a DAG that has never run.</summary>
    public const string NeverRun = "none";

    public Outcome<DagQuery> ToQuery()
    {
        RunState? last = null;
        var never = false;
        if (!string.IsNullOrEmpty(State))
        {
            if (string.Equals(State, NeverRun, StringComparison.OrdinalIgnoreCase))
            {
                never = true;
            }
            else if (Json.TryParseEnum<RunState>(State, out var parsed))
            {
                last = parsed;
            }
            else
            {
                return Failure.BadRequest("Invalid state", $"state must be one of: {string.Join(", ", Enum.GetValues<RunState>().Select(Json.EnumName).Append(NeverRun))}");
            }
        }
        return new DagQuery
        {
            Tag = NullIfEmpty(Tag),
            Owner = NullIfEmpty(Owner),
            LastRunState = last,
            NeverRun = never,
            Search = NullIfEmpty(Search),
            Paused = Paused,
        };
    }

    private static string? NullIfEmpty(string? text) => string.IsNullOrEmpty(text) ? null : text;
}

/// <summary>One DAG with its tasks, edges and state.</summary>
public sealed record DagView(
    string DagId,
    bool Paused,
    string? Schedule,
    string Timezone,
    bool Catchup,
    int MaxActiveRuns,
    DateTimeOffset? NextRunAt,
    ImmutableArray<DateTimeOffset> NextRuns,
    RunState? LastRunState,
    string? Description,
    string? Owner,
    ImmutableArray<string> Tags,
    ImmutableDictionary<string, string> Params,
    string Version,
    string SourceFile,
    string Source,
    ImmutableArray<TaskView> Tasks,
    ImmutableArray<EdgeView> Edges,
    ImmutableArray<RunSummary> RecentRuns,
    int ActiveRuns,
    int QueuedRuns,
    ImmutableArray<string> LoadErrors,
    ImmutableArray<string> OnDatasets = default,
    ImmutableArray<string> Warnings = default)
{
    /// <summary>The month's spend against <c>budget:</c>; absent when the DAG has none.</summary>
    public BudgetStatus? Budget { get; init; }

    public static DagView From(DagInfo info, DagDefinition dag, ImmutableArray<DateTimeOffset> nextRuns) => new(
        info.DagId,
        info.Paused,
        dag.Schedule,
        dag.Timezone,
        dag.Catchup,
        dag.MaxActiveRuns,
        info.NextRunAt,
        nextRuns,
        info.LastRunState,
        dag.Description,
        dag.Owner,
        dag.Tags,
        dag.Params,
        dag.Version,
        dag.SourceFile,
        dag.SourceText,
        [.. dag.Tasks.Select(TaskView.From)],
        [.. dag.Tasks.SelectMany(t => t.Upstream.Select(up => new EdgeView(up, t.TaskId)))],
        info.RecentRuns,
        info.ActiveRuns,
        info.QueuedRuns,
        info.LoadErrors,
        dag.OnDatasets.IsDefault ? [] : dag.OnDatasets,
        info.Warnings.IsDefault ? [] : info.Warnings)
    {
        Budget = info.Budget,
    };
}

/// <summary>A task of a DAG as the API shows it (durations in DAG-file form).</summary>
public sealed record TaskView(
    string TaskId,
    string Backend,
    ImmutableArray<string> Upstream,
    TriggerRule TriggerRule,
    int Retries,
    string RetryDelay,
    double RetryBackoff,
    string? MaxRetryDelay,
    string? Timeout,
    string Pool,
    string? Image,
    ImmutableArray<string> Command,
    ImmutableArray<string> Args,
    TaskResources Resources,
    ImmutableArray<string> Produces = default)
{
    public static TaskView From(TaskDefinition task) => new(
        task.TaskId,
        task.Backend,
        task.Upstream,
        task.TriggerRule,
        task.Retries,
        Durations.Format(task.RetryDelay),
        task.RetryBackoff,
        task.MaxRetryDelay is { } max ? Durations.Format(max) : null,
        task.Timeout is { } timeout ? Durations.Format(timeout) : null,
        task.Pool,
        task.Image,
        task.Command,
        task.Args,
        task.Resources,
        task.Produces.IsDefault ? [] : task.Produces);
}

public sealed record EdgeView(string From, string To);

/// <summary>A piece of an attempt's log.</summary>
public sealed record LogView(string Text, string Cursor, bool Complete, int Attempt);
