using Batchyard.Runs;
using Batchyard.Silo.Api;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Proto = Batchyard.V1;

namespace Batchyard.Silo.Grpc;

/// <summary>The API's records as protobuf messages (state names as in the JSON API), and failures as gRPC statuses.</summary>
internal static partial class GrpcMapping
{
    public static RpcException ToRpcException(this Failure failure)
    {
        var code = failure.Kind switch
        {
            FailureKind.NotFound => StatusCode.NotFound,
            FailureKind.Conflict => StatusCode.FailedPrecondition,
            FailureKind.Forbidden => StatusCode.PermissionDenied,
            FailureKind.TooLarge => StatusCode.ResourceExhausted,
            _ => StatusCode.InvalidArgument,
        };
        // A refused DAG's problems are the message, one a line, as `file:line: message`.
        var detail = failure.Errors.IsEmpty ? failure.Detail : string.Join('\n', failure.Errors);
        return new RpcException(new Status(code, detail));
    }

    public static T Unwrap<T>(this Outcome<T> outcome) =>
        outcome.Failure is { } failure ? throw failure.ToRpcException() : outcome.Value!;

    public static Proto.DagSummary ToProto(this DagListItem dag)
    {
        var message = new Proto.DagSummary
        {
            DagId = dag.DagId,
            Paused = dag.Paused,
            Schedule = dag.Schedule ?? "",
            Timezone = dag.Timezone,
            NextRunAt = Time(dag.NextRunAt),
            LastRunState = State(dag.LastRunState),
            Description = dag.Description ?? "",
            Owner = dag.Owner ?? "",
        };
        message.Tags.AddRange(dag.Tags);
        message.LoadErrors.AddRange(dag.LoadErrors);
        return message;
    }

    public static Proto.Dag ToProto(this DagView dag)
    {
        var message = new Proto.Dag
        {
            DagId = dag.DagId,
            Paused = dag.Paused,
            Schedule = dag.Schedule ?? "",
            Timezone = dag.Timezone,
            Catchup = dag.Catchup,
            MaxActiveRuns = dag.MaxActiveRuns,
            NextRunAt = Time(dag.NextRunAt),
            LastRunState = State(dag.LastRunState),
            Description = dag.Description ?? "",
            Owner = dag.Owner ?? "",
            Version = dag.Version,
            SourceFile = dag.SourceFile,
            Source = dag.Source,
            ActiveRuns = dag.ActiveRuns,
            QueuedRuns = dag.QueuedRuns,
        };
        message.NextRuns.AddRange(dag.NextRuns.Select(t => Timestamp.FromDateTimeOffset(t)));
        message.Tags.AddRange(dag.Tags);
        message.Params.Add(dag.Params);
        message.Tasks.AddRange(dag.Tasks.Select(ToProto));
        message.Edges.AddRange(dag.Edges.Select(e => new Proto.Edge { From = e.From, To = e.To }));
        message.RecentRuns.AddRange(dag.RecentRuns.Select(ToProto));
        message.LoadErrors.AddRange(dag.LoadErrors);
        if (dag.Budget is { } budget)
        {
            message.Budget = new Proto.DagBudget
            {
                MonthlyUsd = (double)budget.MonthlyUsd,
                PauseOnExceed = budget.PauseOnExceed,
                Month = budget.Month,
                SpentUsd = (double)budget.SpentUsd,
                Percent = (double)budget.Percent,
                PausedByBudget = budget.PausedByBudget,
            };
            message.Budget.Notified.AddRange(budget.Notified);
        }
        return message;
    }

    private static Proto.DagTask ToProto(TaskView task)
    {
        var message = new Proto.DagTask
        {
            TaskId = task.TaskId,
            Backend = task.Backend,
            TriggerRule = Json.EnumName(task.TriggerRule),
            Retries = task.Retries,
            RetryDelay = task.RetryDelay,
            RetryBackoff = task.RetryBackoff,
            MaxRetryDelay = task.MaxRetryDelay ?? "",
            Timeout = task.Timeout ?? "",
            Pool = task.Pool,
            Image = task.Image ?? "",
        };
        message.Upstream.AddRange(task.Upstream);
        message.Command.AddRange(task.Command);
        message.Args.AddRange(task.Args);
        return message;
    }

    public static Proto.RunSummary ToProto(this RunSummary run)
    {
        var message = new Proto.RunSummary
        {
            DagId = run.DagId,
            RunId = run.RunId,
            State = Json.EnumName(run.State),
            LogicalDate = Time(run.LogicalDate),
            QueuedAt = Time(run.QueuedAt),
            StartedAt = Time(run.StartedAt),
            EndedAt = Time(run.EndedAt),
            RunType = run.RunType,
            Late = run.Late,
        };
        if (run.CostUsd is { } usd)
        {
            message.CostUsd = (double)usd;
        }
        return message;
    }

    public static Proto.Run ToProto(this RunDetails run)
    {
        var message = new Proto.Run
        {
            DagId = run.DagId,
            RunId = run.RunId,
            State = Json.EnumName(run.State),
            LogicalDate = Time(run.LogicalDate),
            QueuedAt = Time(run.QueuedAt),
            StartedAt = Time(run.StartedAt),
            EndedAt = Time(run.EndedAt),
            RunType = run.RunType,
            DagVersion = run.DagVersion,
            TriggeredBy = run.TriggeredBy ?? "",
            Late = run.Late,
        };
        if (run.CostUsd is { } usd)
        {
            message.CostUsd = (double)usd;
        }
        message.Params.Add(run.Params);
        message.Tasks.AddRange(run.Tasks.Select(ToProto));
        return message;
    }

    private static Proto.TaskInstance ToProto(TaskInstanceDetails task)
    {
        var message = new Proto.TaskInstance
        {
            TaskId = task.TaskId,
            State = Json.EnumName(task.State),
            NextAttemptAt = Time(task.NextAttemptAt),
            Backend = task.Backend,
            Late = task.Late,
        };
        if (task.MapIndex is { } index)
        {
            message.MapIndex = index;
        }
        if (task.MapCount is { } count)
        {
            message.MapCount = count;
        }
        message.Upstream.AddRange(task.Upstream);
        message.Attempts.AddRange(task.Attempts.Select(ToProto));
        return message;
    }

    private static Proto.TaskAttempt ToProto(AttemptDetails attempt)
    {
        var message = new Proto.TaskAttempt
        {
            Attempt = attempt.Attempt,
            State = Json.EnumName(attempt.State),
            JobId = attempt.JobId ?? "",
            QueuedAt = Time(attempt.QueuedAt),
            StartedAt = Time(attempt.StartedAt),
            EndedAt = Time(attempt.EndedAt),
            Reason = attempt.Reason ?? "",
            Backend = attempt.Backend,
            Output = attempt.Output ?? "",
        };
        if (attempt.ExitCode is { } exitCode)
        {
            message.ExitCode = exitCode;
        }
        if (attempt.Cost is { } cost)
        {
            message.Cost = new Proto.AttemptCost { ComputeSeconds = cost.ComputeSeconds, Basis = cost.Basis, InstanceType = cost.InstanceType };
            if (cost.Usd is { } usd)
            {
                message.Cost.Usd = (double)usd;
            }
        }
        message.Details.Add(attempt.Details);
        return message;
    }

    public static Proto.CostReport ToProto(this Batchyard.Costs.CostReport report)
    {
        var message = new Proto.CostReport { From = Time(report.From), To = Time(report.To), GroupBy = report.GroupBy, Total = ToProto(report.Total) };
        message.Groups.AddRange(report.Groups.Select(ToProto));
        return message;
    }

    private static Proto.CostGroup ToProto(Batchyard.Costs.CostGroup group) => new()
    {
        Key = group.Key,
        Usd = (double)group.Usd,
        ComputeSeconds = group.ComputeSeconds,
        Attempts = group.Attempts,
        UnpricedAttempts = group.UnpricedAttempts,
    };

    public static Proto.LogChunk ToProto(this LogView log) => new()
    {
        Text = log.Text,
        Cursor = log.Cursor,
        Complete = log.Complete,
        Attempt = log.Attempt,
    };

    private static Timestamp? Time(DateTimeOffset? time) => time is { } t ? Timestamp.FromDateTimeOffset(t) : null;

    private static string State(RunState? state) => state is { } s ? Json.EnumName(s) : "";

    public static Proto.AuditEntry ToProto(this Batchyard.History.AuditEntry entry) => new()
    {
        Id = entry.Id,
        At = Time(entry.At),
        KeyName = entry.KeyName,
        Action = entry.Action,
        Target = entry.Target,
        DagId = entry.DagId,
        RunId = entry.RunId ?? "",
        TaskId = entry.TaskId ?? "",
        Outcome = entry.Outcome,
        Status = entry.Status,
        Detail = entry.Detail ?? "",
    };
}
