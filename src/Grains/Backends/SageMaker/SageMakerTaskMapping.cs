using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Batchyard.Aws;
using Batchyard.Dags;

namespace Batchyard.Backends.SageMaker;

/// <summary>
/// Task → SageMaker request, and the checks that refuse at load time what SageMaker would refuse at
/// submit time (limits from the SageMaker API model).
/// </summary>
public static partial class SageMakerTaskMapping
{
    /// <summary>The attempt detail with a training job's <c>WarmPoolStatus.Status</c> (<c>Available | InUse | Reused | Terminated</c>).</summary>
    public const string WarmPoolStatusKey = "warmPoolStatus";

    /// <summary>The warm pool's status once Describe no longer knows the job: nothing more can be learned of it.</summary>
    public const string WarmPoolGone = "Unknown";

    /// <summary>Whether a warm pool in this status has ended its life for this job (reused by another, or terminated).</summary>
    public static bool WarmPoolSettled(string status) => status is "Terminated" or "Reused" or WarmPoolGone;

    /// <summary>Whether an attempt detail is about the job's warm pool (what changes after the job's end).</summary>
    public static bool IsWarmPoolFact(string key) => key.StartsWith("warmPool", StringComparison.Ordinal);

    public const string DefaultInstanceType = "ml.m5.large";
    public const int DefaultInstanceCount = 1;
    public const int DefaultVolumeGb = 30;
    public static readonly TimeSpan DefaultMaxRuntime = TimeSpan.FromSeconds(86400);
    /// <summary>ProcessingMaxRuntimeInSeconds' maximum (9 days).</summary>
    public const int ProcessingMaxRuntimeSeconds = 777600;
    /// <summary>Training's documented maximum (28 days).</summary>
    public const int TrainingMaxRuntimeSeconds = 28 * 86400;

    [GeneratedRegex(@"^ml\.[a-z0-9-]+\.[a-z0-9-]+$")]
    private static partial Regex InstanceType();

    [GeneratedRegex(@"^[a-zA-Z_][a-zA-Z0-9_]*$")]
    private static partial Regex EnvKey();

    [GeneratedRegex(@"^arn:aws[a-z\-]*:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+$")]
    private static partial Regex RoleArn();

    [GeneratedRegex(@"^(https|s3)://([^/]+)/?(.*)$")]
    private static partial Regex S3Uri();

    [GeneratedRegex(@"^[A-Za-z0-9\.\-_]+$")]
    private static partial Regex ChannelName();

    public static IEnumerable<BackendProblem> Validate(TaskDefinition task, SageMakerJobKind kind, string? roleArn)
    {
        ArgumentNullException.ThrowIfNull(task);
        var training = kind == SageMakerJobKind.Training;
        if (string.IsNullOrWhiteSpace(task.Image))
        {
            yield return new("image", "a SageMaker job needs an image");
        }
        else if (task.Image.Length > 255)
        {
            yield return new("image", "the image URI is longer than 255 characters");
        }
        if (string.IsNullOrWhiteSpace(roleArn))
        {
            yield return new("backend", $"{SageMakerOptions.Section}:RoleArn is not configured on the server");
        }
        else if (roleArn.Length is < 20 or > 2048 || !RoleArn().IsMatch(roleArn))
        {
            yield return new("backend", $"{SageMakerOptions.Section}:RoleArn '{roleArn}' is not an IAM role ARN");
        }

        var resources = task.Resources;
        if (resources.InstanceType is { } type && !InstanceType().IsMatch(type))
        {
            yield return new("resources.instance_type", $"'{type}' is not a SageMaker instance type (e.g. {DefaultInstanceType})");
        }
        if (resources.InstanceCount is { } count && (count < 1 || count > 100))
        {
            yield return new("resources.instance_count", $"must be between 1 and 100, not {count}");
        }
        if (resources.VolumeGb is { } volume && (volume < 1 || volume > 16384))
        {
            yield return new("resources.volume_gb", $"must be between 1 and 16384, not {volume}");
        }
        if (resources.Gpus is not null)
        {
            yield return new("resources.gpus", $"SageMaker takes GPUs from the instance type, not a count: choose a GPU instance_type (e.g. ml.g4dn.xlarge) and drop 'gpus', which only the local backend reads");
        }

        var maxRuntime = training ? TrainingMaxRuntimeSeconds : ProcessingMaxRuntimeSeconds;
        if (task.Timeout is { } timeout && (timeout.TotalSeconds < 1 || timeout.TotalSeconds > maxRuntime))
        {
            yield return new("timeout", $"SageMaker runs a {(training ? "training" : "processing")} job between 1 s and {maxRuntime} s");
        }

        foreach (var problem in SpotAndWarmPoolProblems(task, training))
        {
            yield return problem;
        }

        var envLimit = training ? 512 : 256;
        if (task.Env.Count > 100)
        {
            yield return new("env", $"SageMaker takes at most 100 environment entries, not {task.Env.Count}");
        }
        foreach (var (key, value) in task.Env)
        {
            if (!EnvKey().IsMatch(key) || key.Length > envLimit)
            {
                yield return new($"env.{key}", $"a SageMaker environment name must match [a-zA-Z_][a-zA-Z0-9_]* and be at most {envLimit} characters");
            }
            if (value.Length > envLimit)
            {
                yield return new($"env.{key}", $"a SageMaker environment value is at most {envLimit} characters");
            }
        }

        foreach (var problem in ListLimits("command", task.Command))
        {
            yield return problem;
        }
        foreach (var problem in ListLimits("args", task.Args))
        {
            yield return problem;
        }

        for (var i = 0; i < task.Inputs.Length; i++)
        {
            var input = task.Inputs[i];
            if (!S3Uri().IsMatch(input.S3Uri))
            {
                yield return new($"inputs[{i}].s3_uri", $"'{input.S3Uri}' is not an s3:// URI");
            }
            if (training && !ChannelName().IsMatch(input.Name))
            {
                yield return new($"inputs[{i}].name", "a training channel name is letters, digits, '.', '-' and '_'");
            }
            if (!training && (input.LocalPath is null || !input.LocalPath.StartsWith("/opt/ml/processing/", StringComparison.Ordinal)))
            {
                yield return new($"inputs[{i}].local_path", "a processing input needs a local_path under /opt/ml/processing/");
            }
        }
        for (var i = 0; i < task.Outputs.Length; i++)
        {
            var output = task.Outputs[i];
            if (!S3Uri().IsMatch(output.S3Uri))
            {
                yield return new($"outputs[{i}].s3_uri", $"'{output.S3Uri}' is not an s3:// URI");
            }
        }

        if (training)
        {
            if (string.IsNullOrWhiteSpace(task.OutputPath))
            {
                yield return new("output_path", "a training job needs an output_path (S3 prefix for the model)");
            }
            else if (!S3Uri().IsMatch(task.OutputPath))
            {
                yield return new("output_path", $"'{task.OutputPath}' is not an s3:// URI");
            }
            if (task.Hyperparameters.Count > 100)
            {
                yield return new("hyperparameters", "SageMaker takes at most 100 hyperparameters");
            }
            foreach (var (key, value) in task.Hyperparameters)
            {
                if (key.Length > 256 || value.Length > 2500)
                {
                    yield return new($"hyperparameters.{key}", "a hyperparameter name is at most 256 characters and its value at most 2500");
                }
            }
        }
    }

    /// <summary>Spot training, its checkpoints and warm pools exist for Training jobs only; SageMaker wants MaxWait ≥ MaxRuntime.</summary>
    private static IEnumerable<BackendProblem> SpotAndWarmPoolProblems(TaskDefinition task, bool training)
    {
        var resources = task.Resources;
        if (!training)
        {
            if (resources.Spot == true)
            {
                yield return new("resources.spot", "spot instances are for training jobs (backend: sagemaker-training); a processing job runs on demand");
            }
            if (resources.KeepAlive is not null)
            {
                yield return new("resources.keep_alive", "warm pools are for training jobs (backend: sagemaker-training)");
            }
            if (task.CheckpointS3 is not null)
            {
                yield return new("checkpoint_s3", "checkpoints are for training jobs (backend: sagemaker-training)");
            }
            yield break;
        }
        if (resources.Spot == true && resources.MaxWait is { } maxWait && maxWait.TotalSeconds < MaxRuntimeSeconds(task))
        {
            yield return new("resources.max_wait", $"must be at least the task's timeout ({MaxRuntimeSeconds(task)} s): SageMaker counts the run inside the wait, not {(int)Math.Ceiling(maxWait.TotalSeconds)} s");
        }
        if (task.CheckpointS3 is { } checkpoint && !S3Uri().IsMatch(checkpoint))
        {
            yield return new("checkpoint_s3", $"'{checkpoint}' is not an s3:// URI");
        }
    }

    private static IEnumerable<BackendProblem> ListLimits(string path, IReadOnlyList<string> items)
    {
        if (items.Count > 100)
        {
            yield return new(path, $"SageMaker takes at most 100 entries, not {items.Count}");
        }
        for (var i = 0; i < items.Count; i++)
        {
            if (items[i].Length > 256)
            {
                yield return new($"{path}[{i}]", "SageMaker takes entries of at most 256 characters");
            }
        }
    }

    public static CreateProcessingJobRequest ProcessingRequest(string jobName, JobRequest request, string roleArn)
    {
        var task = request.Task;
        return new CreateProcessingJobRequest
        {
            ProcessingJobName = jobName,
            RoleArn = roleArn,
            AppSpecification = new AppSpecification
            {
                ImageUri = task.Image ?? "",
                ContainerEntrypoint = task.Command.IsDefaultOrEmpty ? null : task.Command,
                ContainerArguments = task.Args.IsDefaultOrEmpty ? null : task.Args,
            },
            ProcessingResources = new ProcessingResources
            {
                ClusterConfig = new ProcessingClusterConfig
                {
                    InstanceType = task.Resources.InstanceType ?? DefaultInstanceType,
                    InstanceCount = task.Resources.InstanceCount ?? DefaultInstanceCount,
                    VolumeSizeInGB = task.Resources.VolumeGb ?? DefaultVolumeGb,
                },
            },
            StoppingCondition = new StoppingCondition { MaxRuntimeInSeconds = MaxRuntimeSeconds(task) },
            Environment = task.Env.Count == 0 ? null : task.Env,
            ProcessingInputs = task.Inputs.IsDefaultOrEmpty ? null : [.. task.Inputs.Select(i => new ProcessingInput
            {
                InputName = i.Name,
                S3Input = new ProcessingS3Input { S3Uri = i.S3Uri, LocalPath = i.LocalPath },
            })],
            ProcessingOutputConfig = task.Outputs.IsDefaultOrEmpty ? null : new ProcessingOutputConfig
            {
                Outputs = [.. task.Outputs.Select(o => new ProcessingOutput
                {
                    OutputName = o.Name,
                    S3Output = new ProcessingS3Output { S3Uri = o.S3Uri, LocalPath = o.LocalPath ?? $"/opt/ml/processing/{o.Name}" },
                })],
            },
            Tags = Tags(request.Job),
        };
    }

    public static CreateTrainingJobRequest TrainingRequest(string jobName, JobRequest request, string roleArn)
    {
        var task = request.Task;
        return new CreateTrainingJobRequest
        {
            TrainingJobName = jobName,
            RoleArn = roleArn,
            AlgorithmSpecification = new AlgorithmSpecification
            {
                TrainingImage = task.Image,
                ContainerEntrypoint = task.Command.IsDefaultOrEmpty ? null : task.Command,
                ContainerArguments = task.Args.IsDefaultOrEmpty ? null : task.Args,
            },
            OutputDataConfig = new OutputDataConfig { S3OutputPath = task.OutputPath ?? "" },
            ResourceConfig = new ResourceConfig
            {
                InstanceType = task.Resources.InstanceType ?? DefaultInstanceType,
                InstanceCount = task.Resources.InstanceCount ?? DefaultInstanceCount,
                VolumeSizeInGB = task.Resources.VolumeGb ?? DefaultVolumeGb,
                KeepAlivePeriodInSeconds = task.Resources.KeepAlive is { } keepAlive ? (int)Math.Ceiling(keepAlive.TotalSeconds) : null,
            },
            StoppingCondition = new StoppingCondition
            {
                MaxRuntimeInSeconds = MaxRuntimeSeconds(task),
                MaxWaitTimeInSeconds = Spot(task) ? MaxWaitSeconds(task) : null,
            },
            EnableManagedSpotTraining = Spot(task) ? true : null,
            CheckpointConfig = task.CheckpointS3 is { } checkpoint ? new CheckpointConfig { S3Uri = checkpoint } : null,
            HyperParameters = task.Hyperparameters.Count == 0 ? null : task.Hyperparameters,
            InputDataConfig = task.Inputs.IsDefaultOrEmpty ? null : [.. task.Inputs.Select(i => new TrainingChannel
            {
                ChannelName = i.Name,
                DataSource = new TrainingDataSource { S3DataSource = new S3DataSource { S3Uri = i.S3Uri } },
            })],
            Environment = task.Env.Count == 0 ? null : task.Env,
            Tags = Tags(request.Job),
        };
    }

    public static int MaxRuntimeSeconds(TaskDefinition task) =>
        (int)Math.Ceiling((task.Timeout ?? DefaultMaxRuntime).TotalSeconds);

    private static bool Spot(TaskDefinition task) => task.Resources.Spot == true;

    /// <summary>A spot job waits and runs within <c>max_wait</c>; without one, within twice its maximum runtime (docs/choices.md).</summary>
    public static int MaxWaitSeconds(TaskDefinition task) =>
        task.Resources.MaxWait is { } maxWait ? (int)Math.Ceiling(maxWait.TotalSeconds) : 2 * MaxRuntimeSeconds(task);

    private static List<SageMakerTag> Tags(JobRef job) =>
    [
        new("batchyard:dag", TagValue(job.DagId)),
        new("batchyard:run", TagValue(job.RunId)),
        new("batchyard:task", TagValue(job.TaskId)),
        new("batchyard:attempt", job.Attempt.ToString(CultureInfo.InvariantCulture)),
    ];

    /// <summary>Tag values allow letters, digits, spaces and <c>_.:/=+-@</c>; anything else becomes '_'.</summary>
    private static string TagValue(string text)
    {
        var builder = new StringBuilder(Math.Min(text.Length, 256));
        foreach (var c in text.Length > 256 ? text[..256] : text)
        {
            builder.Append(char.IsLetterOrDigit(c) || c is ' ' or '_' or '.' or ':' or '/' or '=' or '+' or '-' or '@' ? c : '_');
        }
        return builder.ToString();
    }

    /// <summary>What a Describe answer means for the task.</summary>
    public static JobStatus ToStatus(SageMakerJobSnapshot job, bool stopRequested)
    {
        var details = ImmutableDictionaryBuilder(job);
        if (job.Missing)
        {
            return new JobStatus { State = JobState.Lost, JobId = job.Name, Reason = $"SageMaker has no {job.Kind.ToString().ToLowerInvariant()} job named {job.Name}", Details = details };
        }

        var timedOut = Contains(job.FailureReason, "MaxRuntimeExceeded") || job.SecondaryStatus == "MaxRuntimeExceeded";
        var reason = string.Join(" | ", new[] { job.FailureReason, job.ExitMessage }.Where(s => !string.IsNullOrWhiteSpace(s)));
        var state = job.Status switch
        {
            "Completed" => JobState.Succeeded,
            "Failed" => timedOut ? JobState.TimedOut : JobState.Failed,
            "Stopped" => timedOut ? JobState.TimedOut : stopRequested ? JobState.Stopped : JobState.Failed,
            _ => IsRunning(job) ? JobState.Running : JobState.Queued,
        };
        if (state == JobState.Failed && SpotInterruption(job) is { } spot)
        {
            // Retryable like any failure: the next attempt is a new spot job, resumed from its checkpoints.
            reason = spot;
        }
        else if (state == JobState.Failed && job.Status == "Stopped")
        {
            reason = string.IsNullOrEmpty(reason) ? "the job was stopped outside Batchyard" : reason;
        }
        if (state == JobState.TimedOut && string.IsNullOrEmpty(reason))
        {
            reason = "MaxRuntimeExceeded";
        }
        return new JobStatus
        {
            State = state,
            JobId = job.Arn ?? job.Name,
            ExitCode = state == JobState.Succeeded ? 0 : null,
            Reason = string.IsNullOrEmpty(reason) ? null : reason,
            StartedAt = job.StartedAt,
            EndedAt = job.EndedAt,
            Details = details,
        };
    }

    /// <summary>
    /// Why a spot training job ended without finishing because of spot capacity, or null: an <c>Interrupted</c>
    /// secondary status (now or among its transitions), <c>MaxWaitTimeExceeded</c>, or a failure reason that says so.
    /// </summary>
    public static string? SpotInterruption(SageMakerJobSnapshot job)
    {
        if (job.Kind != SageMakerJobKind.Training || job.Status is not ("Failed" or "Stopped"))
        {
            return null;
        }
        var detail = string.Join(" | ", new[] { job.FailureReason, job.ExitMessage }.Where(s => !string.IsNullOrWhiteSpace(s)));
        if (job.SecondaryStatus == "MaxWaitTimeExceeded")
        {
            return "spot capacity: the job did not finish within max_wait (MaxWaitTimeExceeded)" + (detail.Length > 0 ? $": {detail}" : "");
        }
        // The last step before the end tells: a job that was interrupted, resumed and then failed on its own is not one.
        var steps = job.Transitions;
        var beforeEnd = steps.Count >= 2 && steps[^1].Status is "Failed" or "Stopped" ? steps[^2] : steps.Count > 0 ? steps[^1] : null;
        if (job.SecondaryStatus == "Interrupted" || beforeEnd?.Status == "Interrupted"
            || (Contains(job.FailureReason, "spot") && (Contains(job.FailureReason, "interrupt") || Contains(job.FailureReason, "capacity"))))
        {
            var message = detail.Length > 0 ? detail : beforeEnd?.StatusMessage ?? "the spot instances were reclaimed";
            return $"spot interruption: {message}";
        }
        return null;
    }

    private static bool IsRunning(SageMakerJobSnapshot job) =>
        job.Kind == SageMakerJobKind.Training
            ? job.SecondaryStatus is "Training" or "Uploading" or "Stopping" || (job.SecondaryStatus is null && job.StartedAt is not null)
            : job.StartedAt is not null;

    private static bool Contains(string? text, string value) => text?.Contains(value, StringComparison.OrdinalIgnoreCase) == true;

    private static System.Collections.Immutable.ImmutableDictionary<string, string> ImmutableDictionaryBuilder(SageMakerJobSnapshot job)
    {
        var details = System.Collections.Immutable.ImmutableDictionary.CreateBuilder<string, string>(StringComparer.Ordinal);
        details["jobName"] = job.Name;
        if (job.Status.Length > 0) details["sagemakerStatus"] = job.Status;
        if (job.SecondaryStatus is not null) details["secondaryStatus"] = job.SecondaryStatus;
        if (job.BillableSeconds is { } billable) details["billableSeconds"] = billable.ToString(CultureInfo.InvariantCulture);
        if (job.TrainingSeconds is { } training) details["trainingSeconds"] = training.ToString(CultureInfo.InvariantCulture);
        if (job.Spot)
        {
            details["spot"] = "true";
            if (job.BillableSeconds is { } paid && job.TrainingSeconds is { } ran && ran > 0)
            {
                // AWS's own formula for the saving of managed spot training; the cost (USD) is computed elsewhere.
                details["spotSaving"] = Math.Clamp(1 - ((double)paid / ran), 0, 1).ToString("0.###", CultureInfo.InvariantCulture);
            }
        }
        if (job.WarmPool is { } pool)
        {
            details[WarmPoolStatusKey] = pool.Status;
            if (pool.ResourceRetainedBillableTimeInSeconds is { } retained) details["warmPoolRetainedBillableSeconds"] = retained.ToString(CultureInfo.InvariantCulture);
            if (pool.ReusedByJob is { } reusedBy) details["warmPoolReusedBy"] = reusedBy;
        }
        if (job.Transitions.Count > 0)
        {
            details["secondaryStatusTransitions"] = string.Join(" > ", job.Transitions.Select(t =>
                $"{t.Status}@{t.StartTime.UtcDateTime.ToString("O", CultureInfo.InvariantCulture)}"));
        }
        return details.ToImmutable();
    }
}
