using System.Collections.Immutable;

namespace Batchyard.Backends;

/// <summary>How a backend says it is doing on this silo.</summary>
public enum BackendStatus
{
    /// <summary>It can run jobs as it should.</summary>
    Ok,
    /// <summary>It runs jobs, but not as it should (e.g. local jobs without memory limits), or it could not tell in time.</summary>
    Degraded,
    /// <summary>It cannot run jobs now (e.g. SageMaker cannot be reached).</summary>
    Unavailable,
}

/// <summary>
/// A backend's description of itself: its state, one sentence, a few facts (in the order to show them) and links
/// (a console). <c>/readyz</c> and the dashboard show it as it is, whatever the backend.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record BackendHealth
{
    /// <summary>The backend's name, as DAG files use it.</summary>
    [Id(0)] public required string Backend { get; init; }
    [Id(1)] public required BackendStatus Status { get; init; }
    /// <summary>One sentence for people, e.g. <c>jobs run in memory-limited cgroups</c>.</summary>
    [Id(2)] public required string Message { get; init; }
    [Id(3)] public ImmutableArray<BackendFact> Facts { get; init; } = [];
    [Id(4)] public ImmutableArray<BackendLink> Links { get; init; } = [];

    /// <summary>The value of the fact named <paramref name="name"/>, or null.</summary>
    public string? Fact(string name) => Facts.FirstOrDefault(f => f.Name == name)?.Value;
}

/// <summary>One fact a backend tells about itself, e.g. <c>memory in use</c> = <c>512 / 4096 MB</c>.</summary>
[GenerateSerializer, Immutable]
public sealed record BackendFact
{
    [Id(0)] public required string Name { get; init; }
    [Id(1)] public required string Value { get; init; }
}

/// <summary>A page about the backend, e.g. its jobs in the AWS console.</summary>
[GenerateSerializer, Immutable]
public sealed record BackendLink
{
    [Id(0)] public required string Title { get; init; }
    [Id(1)] public required Uri Url { get; init; }
}
