namespace Batchyard.Dags;

/// <summary>One reason a DAG file was refused, rendered as <c>file:line: message</c>.</summary>
[GenerateSerializer, Immutable]
public sealed record DagProblem([property: Id(0)] string File, [property: Id(1)] int Line, [property: Id(2)] string Message)
{
    public override string ToString() => $"{File}:{Line}: {Message}";
}
