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
    ImmutableArray<string> LoadErrors)
{
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
        info.LoadErrors);
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
    TaskResources Resources)
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
        task.Resources);
}

public sealed record EdgeView(string From, string To);

/// <summary>A piece of an attempt's log.</summary>
public sealed record LogView(string Text, string Cursor, bool Complete, int Attempt);
