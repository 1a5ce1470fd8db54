namespace Batchyard.History;

/// <summary>One ended attempt's cost as the cost projection keeps it (one row per attempt, written with the attempt's end).</summary>
public sealed record CostEntry(string DagId, string RunId, string TaskKey, int Attempt, DateTimeOffset EndedAt, string InstanceType, decimal? Usd, double ComputeSeconds);

/// <summary>
/// The costs of the attempts of one DAG on one instance type that ended on one UTC day: the unit every cost
/// report is summed from (a month of a thousand DAGs is a few thousand cells, whatever the number of runs).
/// </summary>
public sealed record CostCell(string DagId, string InstanceType, DateOnly Day, decimal Usd, double ComputeSeconds, int Attempts, int UnpricedAttempts);
