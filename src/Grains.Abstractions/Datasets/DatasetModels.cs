using System.Collections.Immutable;

namespace Batchyard.Datasets;

/// <summary>Where an update of a dataset came from: a task success in a run, or an event posted from outside.</summary>
[GenerateSerializer, Immutable]
public sealed record DatasetSource
{
    /// <summary>The producing task's DAG; null for an external event.</summary>
    [Id(0)] public string? DagId { get; init; }
    [Id(1)] public string? RunId { get; init; }
    [Id(2)] public string? TaskId { get; init; }
    /// <summary>An external event's <c>extra</c> object (JSON text); null for a task's update.</summary>
    [Id(3), System.Text.Json.Serialization.JsonConverter(typeof(Batchyard.Runs.RawJsonTextConverter))] public string? Extra { get; init; }
    /// <summary>The key name of whoever posted an external event.</summary>
    [Id(4)] public string? PostedBy { get; init; }

    public bool External => DagId is null;
}

/// <summary>One update of a dataset, numbered 1, 2, … per dataset.</summary>
[GenerateSerializer, Immutable]
public sealed record DatasetUpdate
{
    [Id(0)] public required string Dataset { get; init; }
    [Id(1)] public long Seq { get; init; }
    [Id(2)] public DateTimeOffset At { get; init; }
    [Id(3)] public DatasetSource Source { get; init; } = new();
}

/// <summary>A request to record an update; <see cref="Key"/> makes it idempotent.</summary>
[GenerateSerializer, Immutable]
public sealed record DatasetUpdateRequest
{
    /// <summary>A task success: <c>dag/run/task/try</c>; an external event: a fresh id. The same key records one update.</summary>
    [Id(0)] public required string Key { get; init; }
    [Id(1)] public DatasetSource Source { get; init; } = new();
}

/// <summary>A task that produces a dataset.</summary>
[GenerateSerializer, Immutable]
public sealed record DatasetProducer
{
    [Id(0)] public required string DagId { get; init; }
    [Id(1)] public required string TaskId { get; init; }
}

/// <summary>A dataset as lists show it.</summary>
[GenerateSerializer, Immutable]
public sealed record DatasetInfo
{
    [Id(0)] public required string Name { get; init; }
    [Id(1)] public ImmutableArray<DatasetProducer> Producers { get; init; } = [];
    [Id(2)] public ImmutableArray<string> Consumers { get; init; } = [];
    [Id(3)] public DatasetUpdate? LastUpdate { get; init; }
    /// <summary>Set when DAGs consume the dataset but no task produces it (only external events can update it).</summary>
    [Id(4)] public string? Warning { get; init; }
    /// <summary>Newest first, the updates the dataset still keeps (<see cref="UpdatesKept"/>).</summary>
    [Id(5)] public ImmutableArray<DatasetUpdate> RecentUpdates { get; init; } = [];

    /// <summary>Updates a dataset keeps for its detail page.</summary>
    public const int UpdatesKept = 200;

    /// <summary>The load warning for a dataset that is consumed but produced by nobody.</summary>
    public static string? WarningFor(string name, int producers, int consumers) =>
        consumers > 0 && producers == 0 ? $"dataset '{name}' is consumed but no task produces it (only POST /api/v1/datasets/{name}/events can update it)" : null;
}

/// <summary>The rules of a dataset name.</summary>
public static class DatasetNames
{
    /// <summary>Lower-case letters, digits, <c>. _ -</c>, starting with a letter or digit, at most 100 characters.</summary>
    public const string Pattern = "^[a-z0-9][a-z0-9._-]{0,99}$";

    public static bool IsValid(string? name) =>
        name is { Length: > 0 and <= 100 } && System.Text.RegularExpressions.Regex.IsMatch(name, Pattern, System.Text.RegularExpressions.RegexOptions.CultureInvariant);
}
