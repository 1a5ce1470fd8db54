using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace Batchyard.SageMakerEmulator;

/// <summary>
/// The SageMaker + CloudWatch Logs emulator: the JSON 1.1 wire on <c>POST /</c>, SigV4 verified, requests
/// validated against the botocore models (answers too, with any breach kept in <see cref="EmulatorStats"/>),
/// scripted job lives, injected faults; S3 objects on path-style REST (<see cref="S3Api"/>); test control
/// under <c>/_emulator</c>.
/// </summary>
public static class EmulatorApp
{
    public const string JsonContentType = "application/x-amz-json-1.1";

    public static WebApplication Build(string[] args, EmulatorSettings settings)
    {
        var builder = WebApplication.CreateSlimBuilder(args);
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Services.AddSingleton(settings);
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton(new ModelValidator(Path.Combine(settings.ReferenceFolder, "sagemaker-model-subset.json")));
        builder.Services.AddSingleton<JobStore>();
        builder.Services.AddSingleton<S3Store>();
        builder.Services.AddSingleton<FaultInjector>();
        builder.Services.AddSingleton<EmulatorStats>();
        builder.Services.AddSingleton<SigV4Verifier>();
        builder.Services.AddSingleton(sp => new Handlers(
            sp.GetRequiredService<ModelValidator>(),
            new ModelValidator(Path.Combine(settings.ReferenceFolder, "logs-model-subset.json")),
            sp.GetRequiredService<JobStore>(),
            sp.GetRequiredService<S3Store>(),
            sp.GetRequiredService<FaultInjector>(),
            sp.GetRequiredService<TimeProvider>()));

        var app = builder.Build();
        app.MapPost("/", Dispatch);
        S3Api.Map(app);
        var control = app.MapGroup("/_emulator");
        control.MapPost("/faults", (FaultSettings faults, FaultInjector injector) =>
        {
            injector.Settings = faults;
            return Results.Ok(faults);
        });
        control.MapPost("/scripts", (ScriptRequest script, JobStore jobs, EmulatorSettings s) =>
        {
            jobs.Script(script.NamePrefix, JobScript.Parse(script.Script, s.DefaultScript));
            return Results.Ok();
        });
        control.MapGet("/stats", (EmulatorStats stats) => Results.Ok(stats.Snapshot()));
        control.MapGet("/health", () => Results.Ok("ok"));
        return app;
    }

    /// <summary>Where a started app listens.</summary>
    public static Uri Address(WebApplication app)
    {
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses;
        return new Uri(addresses.First());
    }

    private static async Task<IResult> Dispatch(HttpContext context, Handlers handlers, SigV4Verifier verifier, FaultInjector faults, EmulatorStats stats)
    {
        var request = context.Request;
        using var buffer = new MemoryStream();
        await request.Body.CopyToAsync(buffer, context.RequestAborted);
        var body = buffer.ToArray();

        var target = request.Headers["X-Amz-Target"].ToString();
        var dot = target.IndexOf('.', StringComparison.Ordinal);
        var prefix = dot < 0 ? "" : target[..dot];
        var operation = dot < 0 ? "" : target[(dot + 1)..];
        var model = handlers.ModelFor(prefix);
        if (model is null || !model.Knows(operation))
        {
            return Error(400, "UnknownOperationException", $"unknown operation '{target}'");
        }
        if (request.ContentType != JsonContentType)
        {
            return Error(400, "SerializationException", $"Content-Type must be exactly {JsonContentType}, not '{request.ContentType}'");
        }
        if (verifier.Verify(request, body, model.SigningName) is { } refused)
        {
            return Error(403, refused.Code, refused.Message);
        }
        stats.Traced(operation, request.Headers["traceparent"].ToString());

        var fault = faults.Decide(operation);
        switch (fault)
        {
            case Fault.Throttle:
                return Error(400, "ThrottlingException", "Rate exceeded");
            case Fault.InternalError:
                return Error(500, "InternalFailure", "We encountered an internal error. Please try again.");
            case Fault.Unavailable:
                return Error(503, "ServiceUnavailable", "Service is unavailable.");
            case Fault.Slow:
                await Task.Delay(faults.Settings.SlowMilliseconds, context.RequestAborted);
                break;
        }

        JsonElement input;
        try
        {
            using var document = JsonDocument.Parse(body.Length == 0 ? "{}"u8.ToArray() : body);
            input = document.RootElement.Clone();
        }
        catch (JsonException e)
        {
            return Error(400, "SerializationException", e.Message);
        }
        var problems = model.Validate(operation, input);
        if (problems.Count > 0)
        {
            return Error(400, "ValidationException",
                $"{problems.Count} validation error{(problems.Count == 1 ? "" : "s")} detected: {string.Join("; ", problems)}");
        }

        try
        {
            var answer = handlers.Handle(operation, input);
            var text = answer.ToJsonString();
            using var written = JsonDocument.Parse(text);
            // Answered all the same: a test sees the breach in the stats (SageMakerRig checks them at the end).
            if (model.ValidateAnswer(operation, written.RootElement) is { Count: > 0 } breaches)
            {
                stats.ModelBreach(operation, breaches);
            }
            return Results.Text(text, JsonContentType);
        }
        catch (ApiError e)
        {
            return Error(e.Status, e.Code, e.Message);
        }
    }

    private static IResult Error(int status, string code, string message) => new ErrorResult(status, code, message);

    private sealed class ErrorResult(int status, string code, string message) : IResult
    {
        public async Task ExecuteAsync(HttpContext httpContext)
        {
            httpContext.Response.StatusCode = status;
            httpContext.Response.ContentType = JsonContentType;
            httpContext.Response.Headers["x-amzn-ErrorType"] = code;
            httpContext.Response.Headers["x-amzn-RequestId"] = Guid.NewGuid().ToString();
            var json = new JsonObject { ["__type"] = code, ["message"] = message };
            await httpContext.Response.WriteAsync(json.ToJsonString());
        }
    }
}

public sealed record ScriptRequest(string NamePrefix, string Script);

/// <summary>An error answer with its AWS code.</summary>
public sealed class ApiError(int status, string code, string message) : Exception(message)
{
    public int Status { get; } = status;
    public string Code { get; } = code;
}

/// <summary>The operations themselves.</summary>
public sealed class Handlers(ModelValidator sageMaker, ModelValidator logs, JobStore jobs, S3Store objects, FaultInjector faults, TimeProvider time)
{
    public ModelValidator? ModelFor(string targetPrefix) =>
        targetPrefix == sageMaker.TargetPrefix ? sageMaker : targetPrefix == logs.TargetPrefix ? logs : null;

    public JsonObject Handle(string operation, JsonElement input) => operation switch
    {
        "CreateProcessingJob" => Create(JobKind.Processing, input),
        "CreateTrainingJob" => Create(JobKind.Training, input),
        "DescribeProcessingJob" => DescribeProcessing(Get(JobKind.Processing, input)),
        "DescribeTrainingJob" => DescribeTraining(Get(JobKind.Training, input)),
        "StopProcessingJob" => Stop(Get(JobKind.Processing, input)),
        "StopTrainingJob" => Stop(Get(JobKind.Training, input)),
        "ListProcessingJobs" => ListProcessing(input),
        "DescribeLogStreams" => DescribeLogStreams(input),
        "GetLogEvents" => GetLogEvents(input),
        _ => throw new ApiError(400, "UnknownOperationException", operation),
    };

    private static string NameMember(JobKind kind) => kind == JobKind.Processing ? "ProcessingJobName" : "TrainingJobName";

    private JsonObject Create(JobKind kind, JsonElement input)
    {
        var name = input.GetProperty(NameMember(kind)).GetString()!;
        var environment = input.TryGetProperty("Environment", out var env)
            ? env.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString() ?? "")
            : null;
        var stopping = input.TryGetProperty("StoppingCondition", out var sc) && sc.TryGetProperty("MaxRuntimeInSeconds", out var max)
            ? TimeSpan.FromSeconds(max.GetInt32())
            : TimeSpan.FromDays(1);
        var resources = kind == JobKind.Processing
            ? input.GetProperty("ProcessingResources").GetProperty("ClusterConfig")
            : input.TryGetProperty("ResourceConfig", out var rc) ? rc : default;
        var count = resources.ValueKind == JsonValueKind.Object && resources.TryGetProperty("InstanceCount", out var ic) ? ic.GetInt32() : 1;
        var instanceType = resources.ValueKind == JsonValueKind.Object && resources.TryGetProperty("InstanceType", out var it) ? it.GetString() ?? "" : "";
        var keepAlive = resources.ValueKind == JsonValueKind.Object && resources.TryGetProperty("KeepAlivePeriodInSeconds", out var ka) && ka.GetInt32() > 0
            ? TimeSpan.FromSeconds(ka.GetInt32())
            : (TimeSpan?)null;
        var spot = input.TryGetProperty("EnableManagedSpotTraining", out var spotFlag) && spotFlag.ValueKind == JsonValueKind.True;
        if (jobs.Find(kind, name) is null && faults.RefuseForCapacity(kind, name, instanceType, Math.Max(1, count), jobs, time.GetUtcNow()) is { } limit)
        {
            throw new ApiError(400, "ResourceLimitExceeded", limit);
        }
        JobScript script;
        try
        {
            script = jobs.ScriptFor(name, environment);
        }
        catch (FormatException e)
        {
            throw new ApiError(400, "ValidationException", $"{JobScript.EnvironmentKey}: {e.Message}");
        }
        Batchyard.Aws.S3Location? output = null;
        if (script.OutputUri is { } uri && !Batchyard.Aws.S3Location.TryParse(uri, out output))
        {
            throw new ApiError(400, "ValidationException", $"{JobScript.EnvironmentKey}: output '{uri}' is not an s3://bucket/key URI");
        }
        var job = new EmulatedJob
        {
            Kind = kind,
            Name = name,
            Arn = jobs.Arn(kind, name),
            Request = input,
            Script = script,
            CreatedAt = time.GetUtcNow(),
            MaxRuntime = stopping,
            InstanceCount = Math.Max(1, count),
            InstanceType = instanceType,
            Spot = spot,
            KeepAlive = keepAlive,
        };
        if (!jobs.TryAdd(job))
        {
            throw new ApiError(400, "ResourceInUse", $"Job {name} already exists");
        }
        jobs.ClaimWarmPool(job, job.CreatedAt);
        if (output is not null)
        {
            objects.WriteWhenCompleted(job, output);
        }
        return new JsonObject { [kind == JobKind.Processing ? "ProcessingJobArn" : "TrainingJobArn"] = job.Arn };
    }

    private EmulatedJob Get(JobKind kind, JsonElement input)
    {
        var name = input.GetProperty(NameMember(kind)).GetString()!;
        var job = jobs.Find(kind, name) ?? throw new ApiError(400, "ValidationException", $"Could not find requested job with name {name}");
        Interlocked.Increment(ref job.DescribeCalls);
        return job;
    }

    private JsonObject DescribeProcessing(EmulatedJob job)
    {
        var now = time.GetUtcNow();
        var view = job.ViewAt(now);
        var answer = Copy(job.Request);
        answer.Remove("Tags");
        answer["ProcessingJobArn"] = job.Arn;
        answer["ProcessingJobStatus"] = view.Status;
        answer["CreationTime"] = Seconds(job.CreatedAt);
        answer["LastModifiedTime"] = Seconds(Max(job.CreatedAt, view.EndedAt ?? view.StartedAt ?? job.CreatedAt));
        if (view.StartedAt is { } started) answer["ProcessingStartTime"] = Seconds(started);
        if (view.EndedAt is { } ended) answer["ProcessingEndTime"] = Seconds(ended);
        if (view.FailureReason is { } reason) answer["FailureReason"] = reason;
        if (view.ExitMessage is { } exit) answer["ExitMessage"] = exit;
        return answer;
    }

    private JsonObject DescribeTraining(EmulatedJob job)
    {
        var now = time.GetUtcNow();
        var view = job.ViewAt(now);
        var answer = Copy(job.Request);
        answer.Remove("Tags");
        answer["TrainingJobArn"] = job.Arn;
        answer["TrainingJobStatus"] = view.Status;
        answer["SecondaryStatus"] = view.Secondary;
        answer["CreationTime"] = Seconds(job.CreatedAt);
        answer["LastModifiedTime"] = Seconds(Max(job.CreatedAt, view.EndedAt ?? view.StartedAt ?? job.CreatedAt));
        answer["ModelArtifacts"] = new JsonObject { ["S3ModelArtifacts"] = $"{job.Request.GetProperty("OutputDataConfig").GetProperty("S3OutputPath").GetString()?.TrimEnd('/')}/{job.Name}/output/model.tar.gz" };
        if (!answer.ContainsKey("StoppingCondition")) answer["StoppingCondition"] = new JsonObject { ["MaxRuntimeInSeconds"] = 86400 };
        if (view.StartedAt is { } started) answer["TrainingStartTime"] = Seconds(started);
        if (view.EndedAt is { } ended) answer["TrainingEndTime"] = Seconds(ended);
        if (view.FailureReason is { } reason) answer["FailureReason"] = reason;
        if (view.StartedAt is { } s && view.EndedAt is { } e)
        {
            // Both are wall-clock seconds per instance (the model: "Multiply BillableTimeInSeconds by the number of
            // instances"), at least 1; without managed spot the whole training time is billed, a spot job less.
            var seconds = Math.Max(1, (int)Math.Ceiling((e - s).TotalSeconds));
            answer["TrainingTimeInSeconds"] = seconds;
            answer["BillableTimeInSeconds"] = job.Spot ? Math.Max(1, (int)Math.Ceiling(seconds * (1 - job.Script.SpotSaving))) : seconds;
        }
        if (job.WarmPoolAt(now) is { } pool)
        {
            var warm = new JsonObject { ["Status"] = pool.Status };
            if (pool.RetainedSeconds is { } retained) warm["ResourceRetainedBillableTimeInSeconds"] = retained;
            if (pool.ReusedBy is { } reusedBy) warm["ReusedByJob"] = reusedBy;
            answer["WarmPoolStatus"] = warm;
        }
        var transitions = new JsonArray();
        foreach (var (status, start, end) in job.Transitions(now))
        {
            var t = new JsonObject { ["Status"] = status, ["StartTime"] = Seconds(start), ["StatusMessage"] = $"{status}" };
            if (end is { } endAt) t["EndTime"] = Seconds(endAt);
            transitions.Add(t);
        }
        answer["SecondaryStatusTransitions"] = transitions;
        if (view.Status == "Completed" && view.EndedAt is { } completed && job.Script.Metrics is { } metrics)
        {
            var list = new JsonArray();
            foreach (var (metric, value) in metrics)
            {
                list.Add(new JsonObject { ["MetricName"] = metric, ["Value"] = Float(value), ["Timestamp"] = Seconds(completed) });
            }
            answer["FinalMetricDataList"] = list;
        }
        return answer;
    }

    private JsonObject Stop(EmulatedJob job)
    {
        var now = time.GetUtcNow();
        var view = job.ViewAt(now);
        if (view.Status is "Completed" or "Failed" or "Stopped")
        {
            throw new ApiError(400, "ValidationException", $"The job {job.Name} has already ended with status {view.Status}");
        }
        lock (job)
        {
            job.StopRequestedAt ??= now;
        }
        return [];
    }

    private JsonObject ListProcessing(JsonElement input)
    {
        var now = time.GetUtcNow();
        var nameContains = input.TryGetProperty("NameContains", out var nc) ? nc.GetString() : null;
        var status = input.TryGetProperty("StatusEquals", out var se) ? se.GetString() : null;
        var descending = input.TryGetProperty("SortOrder", out var so) && so.GetString() == "Descending";
        var max = input.TryGetProperty("MaxResults", out var mr) ? mr.GetInt32() : 10;
        var start = input.TryGetProperty("NextToken", out var nt) ? int.Parse(nt.GetString()!, CultureInfo.InvariantCulture) : 0;
        var matching = jobs.All.Where(j => j.Kind == JobKind.Processing)
            .Where(j => nameContains is null || j.Name.Contains(nameContains, StringComparison.OrdinalIgnoreCase))
            .Select(j => (Job: j, View: j.ViewAt(now)))
            .Where(j => status is null || j.View.Status == status)
            .OrderBy(j => j.Job.CreatedAt).ThenBy(j => j.Job.Name, StringComparer.Ordinal)
            .ToList();
        if (descending) matching.Reverse();
        var page = matching.Skip(start).Take(max).ToList();
        var summaries = new JsonArray();
        foreach (var (job, view) in page)
        {
            var summary = new JsonObject
            {
                ["ProcessingJobName"] = job.Name,
                ["ProcessingJobArn"] = job.Arn,
                ["CreationTime"] = Seconds(job.CreatedAt),
                ["ProcessingJobStatus"] = view.Status,
            };
            if (view.EndedAt is { } ended) summary["ProcessingEndTime"] = Seconds(ended);
            if (view.FailureReason is { } reason) summary["FailureReason"] = reason;
            summaries.Add(summary);
        }
        var answer = new JsonObject { ["ProcessingJobSummaries"] = summaries };
        if (start + page.Count < matching.Count) answer["NextToken"] = (start + page.Count).ToString(CultureInfo.InvariantCulture);
        return answer;
    }

    /// <summary>Streams that exist at <paramref name="now"/>: an instance's stream appears with its first event.</summary>
    private List<(string Name, EmulatedJob Job, int Instance, List<(DateTimeOffset At, string Message)> Events)> Streams(string group, DateTimeOffset now)
    {
        var kind = group switch
        {
            "/aws/sagemaker/ProcessingJobs" => JobKind.Processing,
            "/aws/sagemaker/TrainingJobs" => JobKind.Training,
            _ => throw new ApiError(400, "ResourceNotFoundException", "The specified log group does not exist."),
        };
        var streams = new List<(string, EmulatedJob, int, List<(DateTimeOffset, string)>)>();
        foreach (var job in jobs.All.Where(j => j.Kind == kind))
        {
            for (var i = 1; i <= job.InstanceCount; i++)
            {
                var visible = job.LogEvents(i).Where(e => e.At <= now).ToList();
                if (visible.Count > 0)
                {
                    streams.Add((job.StreamName(i), job, i, visible));
                }
            }
        }
        if (streams.Count == 0)
        {
            throw new ApiError(400, "ResourceNotFoundException", "The specified log group does not exist.");
        }
        return [.. streams.OrderBy(s => s.Item1, StringComparer.Ordinal)];
    }

    private JsonObject DescribeLogStreams(JsonElement input)
    {
        var now = time.GetUtcNow();
        var group = input.TryGetProperty("logGroupName", out var g) ? g.GetString()! : "";
        var prefix = input.TryGetProperty("logStreamNamePrefix", out var p) ? p.GetString()! : "";
        var limit = input.TryGetProperty("limit", out var l) ? l.GetInt32() : 50;
        var start = input.TryGetProperty("nextToken", out var t) ? int.Parse(t.GetString()!, CultureInfo.InvariantCulture) : 0;
        var matching = Streams(group, now).Where(s => s.Name.StartsWith(prefix, StringComparison.Ordinal)).ToList();
        var page = matching.Skip(start).Take(limit).ToList();
        var array = new JsonArray();
        foreach (var (name, job, _, events) in page)
        {
            array.Add(new JsonObject
            {
                ["logStreamName"] = name,
                ["creationTime"] = events[0].At.ToUnixTimeMilliseconds(),
                ["firstEventTimestamp"] = events[0].At.ToUnixTimeMilliseconds(),
                ["lastEventTimestamp"] = events[^1].At.ToUnixTimeMilliseconds(),
                ["lastIngestionTime"] = events[^1].At.ToUnixTimeMilliseconds(),
                ["arn"] = $"arn:aws:logs:us-east-1:123456789012:log-group:{group}:log-stream:{name}",
                ["storedBytes"] = 0,
            });
        }
        var answer = new JsonObject { ["logStreams"] = array };
        if (start + page.Count < matching.Count) answer["nextToken"] = (start + page.Count).ToString(CultureInfo.InvariantCulture);
        return answer;
    }

    private JsonObject GetLogEvents(JsonElement input)
    {
        var now = time.GetUtcNow();
        var group = input.TryGetProperty("logGroupName", out var g) ? g.GetString()! : "";
        var name = input.GetProperty("logStreamName").GetString()!;
        var limit = input.TryGetProperty("limit", out var l) ? l.GetInt32() : 10000;
        var fromHead = input.TryGetProperty("startFromHead", out var h) && h.GetBoolean();
        var token = input.TryGetProperty("nextToken", out var t) ? t.GetString() : null;
        var stream = Streams(group, now).FirstOrDefault(s => s.Name == name);
        if (stream.Name is null)
        {
            throw new ApiError(400, "ResourceNotFoundException", "The specified log stream does not exist.");
        }
        var events = stream.Events;
        int from, to;
        if (token is not null)
        {
            if (token.Length < 3 || token[1] != '/' || !int.TryParse(token.AsSpan(2), NumberStyles.None, CultureInfo.InvariantCulture, out var index) || index > events.Count)
            {
                throw new ApiError(400, "InvalidParameterException", "The specified nextToken is invalid.");
            }
            (from, to) = token[0] == 'b' ? (Math.Max(0, index - limit), index) : (index, Math.Min(events.Count, index + limit));
        }
        else
        {
            (from, to) = fromHead ? (0, Math.Min(events.Count, limit)) : (Math.Max(0, events.Count - limit), events.Count);
        }
        var array = new JsonArray();
        for (var i = from; i < to; i++)
        {
            array.Add(new JsonObject
            {
                ["timestamp"] = events[i].At.ToUnixTimeMilliseconds(),
                ["message"] = events[i].Message,
                ["ingestionTime"] = events[i].At.ToUnixTimeMilliseconds(),
            });
        }
        // With nothing new, the forward token handed back is the one given (as CloudWatch does).
        var forward = token is not null && token[0] == 'f' && from == to ? token : $"f/{to.ToString(CultureInfo.InvariantCulture)}";
        return new JsonObject
        {
            ["events"] = array,
            ["nextForwardToken"] = forward,
            ["nextBackwardToken"] = $"b/{from.ToString(CultureInfo.InvariantCulture)}",
        };
    }

    private static JsonObject Copy(JsonElement element) => JsonNode.Parse(element.GetRawText())!.AsObject();

    /// <summary>JSON 1.1 writes a float JSON cannot hold as a string.</summary>
    private static JsonNode Float(double value) =>
        double.IsFinite(value) ? JsonValue.Create(value) : JsonValue.Create(double.IsNaN(value) ? "NaN" : value > 0 ? "Infinity" : "-Infinity");

    private static double Seconds(DateTimeOffset at) => Math.Round(at.ToUnixTimeMilliseconds() / 1000.0, 3);

    private static DateTimeOffset Max(DateTimeOffset a, DateTimeOffset b) => a > b ? a : b;
}
