using Batchyard.Datasets;
using Batchyard.Grains;
using Batchyard.History;

namespace Batchyard.Runs;

/// <summary>A run's part in datasets: it hands each producing task's success to the datasets it produces.</summary>
public sealed partial class DagRunGrain
{
    /// <summary>How long after its end a run that activates again still hands its successes over (a crash may have cut the first off).</summary>
    private static readonly TimeSpan HandOverWindow = TimeSpan.FromHours(1);

    /// <summary>
    /// A task (or a mapped task as a whole) that succeeded updates the datasets it produces, once its success is
    /// durable. The key names the try, so a repeat (a later record of the same success, a restart) records nothing.
    /// </summary>
    private void HandOverDatasets(FoldedTask task)
    {
        if (task.State != TaskState.Succeeded || task.Plan.MapIndex is not null || !_defs.TryGetValue(task.Plan.TaskId, out var def) || def.Produces.IsDefaultOrEmpty)
        {
            return;
        }
        var tries = task.Instances.Count > 0 ? task.Instances.Sum(i => i.Attempts.Count) : task.Attempts.Count;
        var request = new DatasetUpdateRequest
        {
            Key = $"{_dagId}/{_runId}/{def.TaskId}/{tries}",
            Source = new DatasetSource { DagId = _dagId, RunId = _runId, TaskId = def.TaskId },
        };
        foreach (var name in def.Produces)
        {
            _writer.AfterDurable(() => GrainFactory.GetGrain<IDatasetGrain>(name).RecordAsync(request));
        }
    }

    /// <summary>After a restart: hands over again whatever the last activation may not have (the dataset keeps one update per key).</summary>
    private void HandOverDatasetsAgain()
    {
        if (_state.IsFinal() && _endedAt is { } ended && time.GetUtcNow() - ended > HandOverWindow)
        {
            return;
        }
        foreach (var task in _tasks.Values)
        {
            HandOverDatasets(task);
        }
    }

    /// <summary><c>{{ triggering_datasets }}</c>: the updates that started this run, as a JSON list (null for a run no dataset started).</summary>
    private string? TriggeringDatasetsJson() =>
        S.TriggeringDatasets.IsDefaultOrEmpty ? null : DatasetJson.Triggering(S.TriggeringDatasets);
}
