using Batchyard.Datasets;
using Batchyard.Grains;
using Batchyard.Silo.Api;
using Proto = Batchyard.V1;

namespace Batchyard.Silo.Grpc;

/// <summary>Backfills and datasets as protobuf messages, with the JSON API's names for their states.</summary>
internal static partial class GrpcMapping
{
    public static Proto.Backfill ToProto(this BackfillInfo backfill) => new()
    {
        BackfillId = backfill.BackfillId,
        DagId = backfill.DagId,
        From = Time(backfill.From),
        To = Time(backfill.To),
        Reprocess = Json.EnumName(backfill.Reprocess),
        MaxActiveRuns = backfill.MaxActiveRuns,
        Backwards = backfill.Backwards,
        State = Json.EnumName(backfill.State),
        Total = backfill.Total,
        Created = backfill.Created,
        Running = backfill.Running,
        Succeeded = backfill.Succeeded,
        Failed = backfill.Failed,
        Skipped = backfill.Skipped,
        CreatedAt = Time(backfill.CreatedAt),
        EndedAt = Time(backfill.EndedAt),
        CreatedBy = backfill.CreatedBy ?? "",
    };

    public static Proto.Dataset ToProto(this DatasetListItem dataset) =>
        Dataset(dataset.Name, dataset.Producers, dataset.Consumers, dataset.LastUpdate, dataset.Warning);

    public static Proto.Dataset ToProto(this DatasetView dataset)
    {
        var message = Dataset(dataset.Name, dataset.Producers, dataset.Consumers, dataset.LastUpdate, dataset.Warning);
        message.Updates.AddRange(dataset.Updates.Select(u => u.ToProto()));
        message.NextCursor = dataset.NextCursor ?? "";
        return message;
    }

    public static Proto.DatasetUpdate ToProto(this DatasetUpdate update) => new()
    {
        Dataset = update.Dataset,
        Seq = update.Seq,
        At = Time(update.At),
        DagId = update.Source.DagId ?? "",
        RunId = update.Source.RunId ?? "",
        TaskId = update.Source.TaskId ?? "",
        ExtraJson = update.Source.Extra ?? "",
        PostedBy = update.Source.PostedBy ?? "",
    };

    private static Proto.Dataset Dataset(string name, IEnumerable<DatasetProducer> producers, IEnumerable<string> consumers, DatasetUpdate? last, string? warning)
    {
        var message = new Proto.Dataset { Name = name, LastUpdate = last?.ToProto(), Warning = warning ?? "" };
        message.Producers.AddRange(producers.Select(p => new Proto.DatasetProducer { DagId = p.DagId, TaskId = p.TaskId }));
        message.Consumers.AddRange(consumers);
        return message;
    }
}
