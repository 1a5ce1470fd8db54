using System.Net;
using Batchyard.Aws;
using Batchyard.Backends;
using Batchyard.Backends.SageMaker;
using System.Text.RegularExpressions;

namespace Batchyard.SageMaker.Tests;

public sealed class AwsErrorDecoderTests
{
    [Fact]
    public void Decode_NamespacedType_GivesShortCodeAndTypedException()
    {
        var error = AwsErrorDecoder.Decode(HttpStatusCode.BadRequest, null, "r1", """{"__type":"com.amazonaws.sagemaker#ValidationException","Message":"Could not find requested job"}""");
        Assert.IsType<AwsValidationException>(error);
        Assert.Equal("ValidationException", error.ErrorCode);
        Assert.Equal("Could not find requested job", error.ServiceMessage);
    }

    [Fact]
    public void Decode_ErrorTypeHeader_WinsOverBodyAndLosesItsSuffix()
    {
        var error = AwsErrorDecoder.Decode(HttpStatusCode.BadRequest, "ThrottlingException:http://internal.amazon.com/", null, """{"message":"Rate exceeded"}""");
        Assert.IsType<AwsThrottlingException>(error);
        Assert.Equal("Rate exceeded", error.ServiceMessage);
    }

    [Theory]
    [InlineData("ResourceInUse", typeof(AwsResourceInUseException))]
    [InlineData("ResourceNotFoundException", typeof(AwsResourceNotFoundException))]
    [InlineData("AccessDeniedException", typeof(AwsAccessException))]
    [InlineData("SomethingElse", typeof(AwsServiceException))]
    public void Decode_Code_MapsToType(string code, Type expected)
    {
        Assert.IsType(expected, AwsErrorDecoder.Decode(HttpStatusCode.BadRequest, null, null, $$"""{"__type":"{{code}}","message":"m"}"""));
    }

    [Fact]
    public void Decode_HtmlFrom503_IsAServerError()
    {
        var error = AwsErrorDecoder.Decode(HttpStatusCode.ServiceUnavailable, null, null, "<html>busy</html>");
        Assert.IsType<AwsServerException>(error);
        Assert.Equal("InternalFailure", error.ErrorCode);
    }
}

public sealed class S3WireTests
{
    [Theory]
    [InlineData(HttpStatusCode.NotFound, "NoSuchKey", typeof(AwsResourceNotFoundException))]
    [InlineData(HttpStatusCode.NotFound, "NoSuchBucket", typeof(AwsResourceNotFoundException))]
    [InlineData(HttpStatusCode.Forbidden, "AccessDenied", typeof(AwsAccessException))]
    [InlineData(HttpStatusCode.ServiceUnavailable, "SlowDown", typeof(AwsThrottlingException))]
    [InlineData(HttpStatusCode.InternalServerError, "InternalError", typeof(AwsServerException))]
    public void DecodeXml_S3ErrorDocument_GivesCodeMessageAndType(HttpStatusCode status, string code, Type expected)
    {
        var error = AwsErrorDecoder.DecodeXml(status, "r1", $"""<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>what S3 said</Message><RequestId>r1</RequestId></Error>""");

        Assert.IsType(expected, error);
        Assert.Equal(code, error.ErrorCode);
        Assert.Equal("what S3 said", error.ServiceMessage);
        Assert.Equal("r1", error.RequestId);
    }

    [Fact]
    public void DecodeXml_NoBody_FallsBackToTheStatus()
    {
        var error = AwsErrorDecoder.DecodeXml(HttpStatusCode.Forbidden, null, "");

        Assert.IsType<AwsAccessException>(error);
        Assert.Equal("Http403", error.ErrorCode);
    }

    [Fact]
    public void DecodeXml_HtmlFromAProxy_IsAServerErrorWithTheText()
    {
        var error = AwsErrorDecoder.DecodeXml(HttpStatusCode.BadGateway, null, "<html><body>bad gateway</body></html>");

        Assert.IsType<AwsServerException>(error);
        Assert.Equal("InternalFailure", error.ErrorCode);
        Assert.Contains("bad gateway", error.ServiceMessage, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(null, null, null, "https://s3.eu-west-1.amazonaws.com/")]
    [InlineData(null, null, "http://127.0.0.1:4566", "http://127.0.0.1:4566/")]
    [InlineData(null, "http://minio:9000", "http://127.0.0.1:4566", "http://minio:9000/")]
    [InlineData("http://configured:1", "http://minio:9000", "http://127.0.0.1:4566", "http://configured:1/")]
    public void ResolveEndpoint_S3_ConfiguredThenS3VariableThenSharedVariableThenRegional(string? configured, string? s3Variable, string? sharedVariable, string expected)
    {
        var environment = new Dictionary<string, string?> { ["AWS_ENDPOINT_URL_S3"] = s3Variable, ["AWS_ENDPOINT_URL"] = sharedVariable };

        var endpoint = AwsEnvironment.ResolveEndpoint(AwsServiceInfo.S3, "eu-west-1", name => environment.GetValueOrDefault(name), configured);

        Assert.Equal(new Uri(expected), endpoint.Url);
        Assert.Equal("eu-west-1", endpoint.Region);
    }

    [Theory]
    [InlineData("s3://ml-bucket/eval/run1/metrics.json", "ml-bucket", "eval/run1/metrics.json")]
    [InlineData("s3://b/a//b", "b", "a//b")]
    public void S3Location_TryParse_SplitsBucketAndKey(string uri, string bucket, string key)
    {
        Assert.True(S3Location.TryParse(uri, out var location));
        Assert.Equal(new S3Location(bucket, key), location);
        Assert.Equal(uri, location.ToString());
    }
}

public sealed class AwsRetryPolicyTests
{
    private static AwsServiceException Error(HttpStatusCode status, string code) => AwsErrorDecoder.Decode(status, code, null, "");

    [Theory]
    [InlineData(HttpStatusCode.BadRequest, "ThrottlingException", true)]
    [InlineData(HttpStatusCode.BadRequest, "TooManyRequestsException", true)]
    [InlineData(HttpStatusCode.InternalServerError, "InternalFailure", true)]
    [InlineData(HttpStatusCode.BadGateway, "BadGateway", true)]
    [InlineData(HttpStatusCode.ServiceUnavailable, "ServiceUnavailable", true)]
    [InlineData(HttpStatusCode.GatewayTimeout, "GatewayTimeout", true)]
    [InlineData(HttpStatusCode.NotImplemented, "NotImplemented", false)]
    [InlineData(HttpStatusCode.BadRequest, "ValidationException", false)]
    [InlineData(HttpStatusCode.BadRequest, "ResourceInUse", false)]
    public void IsRetryable_ByCodeAndStatus(HttpStatusCode status, string code, bool expected)
    {
        Assert.Equal(expected, AwsRetryPolicy.IsRetryable(Error(status, code)));
    }

    [Fact]
    public void IsRetryable_ConnectionError_IsRetried()
    {
        Assert.True(AwsRetryPolicy.IsRetryable(new HttpRequestException("connection refused")));
    }

    [Fact]
    public void Backoff_IsCappedAt20Seconds()
    {
        var policy = new AwsRetryPolicy(new AwsRetryOptions(), random: () => 1.0);
        Assert.Equal(TimeSpan.FromSeconds(1), policy.Backoff(1));
        Assert.Equal(TimeSpan.FromSeconds(4), policy.Backoff(3));
        Assert.Equal(TimeSpan.FromSeconds(20), policy.Backoff(10));
        Assert.Equal(TimeSpan.FromSeconds(20), policy.Backoff(60));
    }

    [Fact]
    public void Backoff_IsJittered()
    {
        var policy = new AwsRetryPolicy(new AwsRetryOptions(), random: () => 0.25);
        Assert.Equal(TimeSpan.FromSeconds(0.5), policy.Backoff(2));
    }

    [Fact]
    public void TryGetRetryDelay_StopsAtMaxAttempts()
    {
        var policy = new AwsRetryPolicy(new AwsRetryOptions { MaxAttempts = 3 });
        var throttled = Error(HttpStatusCode.BadRequest, "ThrottlingException");
        Assert.True(policy.TryGetRetryDelay(1, throttled, out _));
        Assert.True(policy.TryGetRetryDelay(2, throttled, out _));
        Assert.False(policy.TryGetRetryDelay(3, throttled, out _));
    }

    [Fact]
    public void TryGetRetryDelay_EmptyBudget_RefusesAndSuccessRefills()
    {
        var policy = new AwsRetryPolicy(new AwsRetryOptions { BudgetCapacity = 10, RetryCost = 5 });
        var throttled = Error(HttpStatusCode.BadRequest, "ThrottlingException");
        Assert.True(policy.TryGetRetryDelay(1, throttled, out _));
        Assert.True(policy.TryGetRetryDelay(1, throttled, out _));
        Assert.False(policy.TryGetRetryDelay(1, throttled, out _));
        Assert.Equal(0, policy.AvailableTokens);

        policy.OnSuccess(wasRetried: true);
        Assert.True(policy.TryGetRetryDelay(1, throttled, out _));
    }
}

public sealed partial class SageMakerJobNamesTests
{
    [GeneratedRegex("^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")]
    private static partial Regex JobName();

    private static JobRef Ref(string dag, string run, string task, int attempt) => new()
    {
        Backend = "sagemaker", JobName = "x", DagId = dag, RunId = run, TaskId = task, Attempt = attempt,
    };

    [Theory]
    [InlineData("daily", "scheduled__2026-01-01T03:00:00Z", "extract", 1)]
    [InlineData("a_very_long_dag_identifier_that_goes_on_and_on_for_sixty_chars", "run", "an_equally_long_task_identifier_with_underscores_everywhere_xx", 12)]
    [InlineData("_", "r", "-", 1)]
    public void For_AnyRef_FitsSageMakersNameRules(string dag, string run, string task, int attempt)
    {
        var name = SageMakerJobNames.For(Ref(dag, run, task, attempt));
        Assert.InRange(name.Length, 1, 63);
        Assert.Matches(JobName(), name);
    }

    [Fact]
    public void For_SameRef_IsDeterministic()
    {
        Assert.Equal(SageMakerJobNames.For(Ref("d", "r", "t", 1)), SageMakerJobNames.For(Ref("d", "r", "t", 1)));
    }

    [Fact]
    public void For_EachAttemptRunAndTask_IsUnique()
    {
        var names = new HashSet<string>();
        foreach (var run in new[] { "r1", "r2" })
        foreach (var task in new[] { "t_1", "t-1" })
        for (var attempt = 1; attempt <= 20; attempt++)
        {
            Assert.True(names.Add(SageMakerJobNames.For(Ref("dag", run, task, attempt))));
        }
    }
}

public sealed class SageMakerValidationTests
{

    [Fact]
    public void Validate_GoodTask_HasNoProblems()
    {
        Assert.Empty(SageMakerTaskMapping.Validate(SageMakerRig.Task("run=1s"), SageMakerJobKind.Processing, SageMakerRig.RoleArn));
    }

    [Fact]
    public void Validate_RefusesWhatSageMakerRefuses_WithTaskRelativePaths()
    {
        var task = SageMakerRig.Task("run=1s", timeout: TimeSpan.FromDays(10)) with
        {
            Image = null,
            Resources = new Batchyard.Dags.TaskResources { InstanceCount = 101, VolumeGb = 0, InstanceType = "m5.large" },
            Env = System.Collections.Immutable.ImmutableDictionary<string, string>.Empty.Add("1BAD", "x").Add("LONG", new string('x', 257)),
        };
        var paths = SageMakerTaskMapping.Validate(task, SageMakerJobKind.Processing, null).Select(p => p.Path).ToList();

        Assert.Contains("image", paths);
        Assert.Contains("backend", paths);
        Assert.Contains("resources.instance_count", paths);
        Assert.Contains("resources.volume_gb", paths);
        Assert.Contains("resources.instance_type", paths);
        Assert.Contains("timeout", paths);
        Assert.Contains("env.1BAD", paths);
        Assert.Contains("env.LONG", paths);
    }

    [Fact]
    public void Validate_TrainingWithoutOutputPath_IsRefused()
    {
        var task = SageMakerRig.Task("run=1s", backend: "sagemaker-training") with { OutputPath = null };
        Assert.Contains(SageMakerTaskMapping.Validate(task, SageMakerJobKind.Training, SageMakerRig.RoleArn), p => p.Path == "output_path");
    }

    [Fact]
    public void ProcessingRequest_AppliesDefaults()
    {
        var task = SageMakerRig.Task("run=1s");
        var request = SageMakerTaskMapping.ProcessingRequest("n", SageMakerRig.Request(SageMakerRig.Job("t"), task, new MemoryAttemptLog()), SageMakerRig.RoleArn);
        Assert.Equal("ml.m5.large", request.ProcessingResources.ClusterConfig.InstanceType);
        Assert.Equal(1, request.ProcessingResources.ClusterConfig.InstanceCount);
        Assert.Equal(30, request.ProcessingResources.ClusterConfig.VolumeSizeInGB);
        Assert.Equal(86400, request.StoppingCondition!.MaxRuntimeInSeconds);
        Assert.Equal(["python", "main.py"], request.AppSpecification.ContainerEntrypoint!);
        Assert.Contains(request.Tags!, t => t.Key == "batchyard:dag" && t.Value == "tests");
    }

}
