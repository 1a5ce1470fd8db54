using System.Net;
using System.Text;
using Batchyard.Aws;
using Batchyard.Backends;
using Batchyard.Backends.SageMaker;
using Batchyard.SageMakerEmulator;
using Microsoft.Extensions.Logging.Abstractions;

namespace Batchyard.SageMaker.Tests;

/// <summary>A succeeded job's output: the <c>output_json</c> object of a processing job, the final metrics of a training job.</summary>
public sealed class SageMakerOutputTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    /// <summary>A processing task whose job writes <paramref name="body"/> where its script's <c>output=</c> says.</summary>
    private static Batchyard.Dags.TaskDefinition Writing(string script, string body)
    {
        var task = SageMakerRig.Task(script);
        return task with { Env = task.Env.Add(JobScript.OutputBodyKey, body) };
    }

    [Fact]
    public async Task Processing_job_with_output_json_succeeds_with_the_object_it_wrote()
    {
        await using var rig = await SageMakerRig.StartAsync();
        const string Uri = "s3://ml-bucket/eval/run1/metrics.json";
        var seen = await SageMakerRig.RunToEndAsync(rig.Processing, SageMakerRig.Job("out", outputUri: Uri),
            Writing($"queued=50ms;run=300ms;output={Uri}", """{ "auc": 0.91, "shards": ["a", "b"] }"""));

        Assert.Equal(JobState.Succeeded, seen[^1].State);
        Assert.Equal("""{"auc":0.91,"shards":["a","b"]}""", seen[^1].Output);
        Assert.All(seen.SkipLast(1), s => Assert.Null(s.Output));
        Assert.True(rig.Emulator.Stats.Calls("GetObject") >= 1);
    }

    [Fact]
    public async Task Processing_job_without_output_json_succeeds_with_no_output_and_reads_nothing()
    {
        await using var rig = await SageMakerRig.StartAsync();
        var seen = await SageMakerRig.RunToEndAsync(rig.Processing, SageMakerRig.Job("no-out"),
            Writing("queued=50ms;run=300ms;output=s3://ml-bucket/eval/metrics.json", """{"auc": 0.91}"""));

        Assert.Equal(JobState.Succeeded, seen[^1].State);
        Assert.Null(seen[^1].Output);
        Assert.Equal(0, rig.Emulator.Stats.Calls("GetObject"));
    }

    [Fact]
    public async Task Processing_job_that_wrote_no_output_fails_with_no_such_object()
    {
        await using var rig = await SageMakerRig.StartAsync();
        rig.Emulator.Objects.Write("ml-bucket", "eval/other.json", "{}");
        const string Uri = "s3://ml-bucket/eval/run1/metrics.json";
        var seen = await SageMakerRig.RunToEndAsync(rig.Processing, SageMakerRig.Job("missing", outputUri: Uri), SageMakerRig.Task("queued=50ms;run=300ms"));

        Assert.Equal(JobState.Failed, seen[^1].State);
        Assert.Equal($"output_json {Uri}: no such object (the job wrote no output there)", seen[^1].Reason);
        Assert.Null(seen[^1].Output);
    }

    [Fact]
    public async Task Output_in_a_bucket_that_does_not_exist_fails_with_no_such_bucket()
    {
        await using var rig = await SageMakerRig.StartAsync();
        var seen = await SageMakerRig.RunToEndAsync(rig.Processing, SageMakerRig.Job("no-bucket", outputUri: "s3://nobody/metrics.json"), SageMakerRig.Task("queued=50ms;run=300ms"));

        Assert.Equal(JobState.Failed, seen[^1].State);
        Assert.Equal("output_json s3://nobody/metrics.json: no such bucket 'nobody'", seen[^1].Reason);
    }

    [Fact]
    public async Task Output_over_64_KiB_fails_the_attempt_as_too_large()
    {
        await using var rig = await SageMakerRig.StartAsync();
        var big = "{\"pad\": \"" + new string('x', 1 << 20) + "\"}";
        rig.Emulator.Objects.Write("ml-bucket", "big.json", big);
        var seen = await SageMakerRig.RunToEndAsync(rig.Processing, SageMakerRig.Job("big", outputUri: "s3://ml-bucket/big.json"), SageMakerRig.Task("queued=50ms;run=300ms"));

        Assert.Equal(JobState.Failed, seen[^1].State);
        Assert.Equal($"output too large: output_json s3://ml-bucket/big.json holds {Encoding.UTF8.GetByteCount(big)} bytes, the limit is 65536 (64 KiB)", seen[^1].Reason);
        Assert.Null(seen[^1].Output);
    }

    [Fact]
    public async Task Output_of_exactly_64_KiB_is_accepted()
    {
        await using var rig = await SageMakerRig.StartAsync();
        var body = "{\"pad\":\"" + new string('x', TaskOutputs.MaxBytes - 10) + "\"}";
        Assert.Equal(TaskOutputs.MaxBytes, Encoding.UTF8.GetByteCount(body));
        rig.Emulator.Objects.Write("ml-bucket", "edge.json", body);
        var seen = await SageMakerRig.RunToEndAsync(rig.Processing, SageMakerRig.Job("edge", outputUri: "s3://ml-bucket/edge.json"), SageMakerRig.Task("queued=50ms;run=300ms"));

        Assert.Equal(JobState.Succeeded, seen[^1].State);
        Assert.Equal(body, seen[^1].Output);
    }

    [Theory]
    [InlineData("[1, 2, 3]", "output is not a JSON object: output_json s3://ml-bucket/bad.json holds a JSON array")]
    [InlineData("auc=0.91", "output is not JSON: output_json s3://ml-bucket/bad.json: ")]
    [InlineData("{\"a\": 1} {\"b\": 2}", "output is not JSON: output_json s3://ml-bucket/bad.json: ")]
    public async Task Output_that_is_not_one_JSON_object_fails_the_attempt(string body, string reason)
    {
        await using var rig = await SageMakerRig.StartAsync();
        rig.Emulator.Objects.Write("ml-bucket", "bad.json", body);
        var seen = await SageMakerRig.RunToEndAsync(rig.Processing, SageMakerRig.Job("bad", outputUri: "s3://ml-bucket/bad.json"), SageMakerRig.Task("queued=50ms;run=300ms"));

        Assert.Equal(JobState.Failed, seen[^1].State);
        Assert.StartsWith(reason, seen[^1].Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Transient_S3_errors_do_not_fail_the_attempt_and_the_next_watch_reads_the_output()
    {
        await using var rig = await SageMakerRig.StartAsync();
        const string Uri = "s3://ml-bucket/eval/flaky.json";
        var job = SageMakerRig.Job("flaky", outputUri: Uri);
        var log = new MemoryAttemptLog();
        using var cts = new CancellationTokenSource(Patience);
        await rig.Processing.SubmitAsync(SageMakerRig.Request(job, Writing($"queued=50ms;run=300ms;output={Uri}", """{"auc": 0.5}"""), log), cts.Token);
        rig.Emulator.Faults.Settings = new FaultSettings { UnavailableRate = 1, Operations = ["GetObject"] };

        var firstWatch = new List<JobStatus>();
        var error = await Assert.ThrowsAsync<TransientBackendException>(async () =>
        {
            await foreach (var status in rig.Processing.WatchAsync(job, log, cts.Token))
            {
                firstWatch.Add(status);
            }
        });
        rig.Emulator.Faults.Settings = new FaultSettings();
        var secondWatch = new List<JobStatus>();
        await foreach (var status in rig.Processing.WatchAsync(job, log, cts.Token))
        {
            secondWatch.Add(status);
        }

        Assert.Contains("ServiceUnavailable", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(firstWatch, s => s.IsFinal);
        Assert.Equal(rig.Options.Retry.MaxAttempts, rig.Emulator.Stats.FaultCount(Fault.Unavailable));
        Assert.Equal(JobState.Succeeded, secondWatch[^1].State);
        Assert.Equal("""{"auc":0.5}""", secondWatch[^1].Output);
    }

    [Fact]
    public async Task Submitting_again_after_the_job_completed_adopts_it_with_its_output_or_defers_on_a_transient_S3_error()
    {
        await using var rig = await SageMakerRig.StartAsync();
        const string Uri = "s3://ml-bucket/eval/adopted.json";
        var job = SageMakerRig.Job("adopted", outputUri: Uri);
        var task = Writing($"queued=50ms;run=200ms;output={Uri}", """{"rows": 7}""");
        var finished = await SageMakerRig.RunToEndAsync(rig.Processing, job, task);
        Assert.Equal(JobState.Succeeded, finished[^1].State);

        rig.Emulator.Faults.Settings = new FaultSettings { ThrottleRate = 1, Operations = ["GetObject"] };
        await Assert.ThrowsAsync<TransientBackendException>(() => rig.Processing.SubmitAsync(SageMakerRig.Request(job, task, new MemoryAttemptLog()), CancellationToken.None));
        rig.Emulator.Faults.Settings = new FaultSettings();
        var adopted = await rig.Processing.SubmitAsync(SageMakerRig.Request(job, task, new MemoryAttemptLog()), CancellationToken.None);

        Assert.Equal(JobState.Succeeded, adopted.State);
        Assert.Equal("""{"rows":7}""", adopted.Output);
        Assert.Equal(1, rig.Emulator.Stats.Calls("CreateProcessingJob"));
    }

    [Fact]
    public async Task Output_the_job_may_not_read_fails_with_the_S3_error()
    {
        await using var rig = await SageMakerRig.StartAsync();
        rig.Emulator.Objects.Write("ml-bucket", "secret.json", "{}");
        var stranger = new S3Client(rig.Http, () => new AwsEndpoint(rig.Endpoint, "us-east-1"),
            new StaticAwsCredentialSource(new AwsCredentials("AKIDSTRANGER", "not-the-secret")), new AwsRetryPolicy(rig.Options.Retry), TimeProvider.System, NullLogger.Instance);

        var (output, error) = await SageMakerOutputs.ReadObjectAsync(stranger, "s3://ml-bucket/secret.json", CancellationToken.None);

        Assert.Null(output);
        Assert.Equal("output_json s3://ml-bucket/secret.json: InvalidAccessKeyId: The AWS Access Key Id you provided does not exist in our records.", error);
    }

    [Theory]
    [InlineData("https://ml-bucket.s3.amazonaws.com/metrics.json")]
    [InlineData("s3://ml-bucket")]
    [InlineData("s3://ml-bucket/")]
    [InlineData("s3:///metrics.json")]
    public async Task Output_json_that_is_not_an_S3_object_URI_fails_without_a_call(string uri)
    {
        await using var rig = await SageMakerRig.StartAsync();

        var (output, error) = await SageMakerOutputs.ReadObjectAsync(rig.S3Client, uri, CancellationToken.None);

        Assert.Null(output);
        Assert.Equal($"output_json '{uri}' is not an s3://bucket/key URI", error);
        Assert.Equal(0, rig.Emulator.Stats.Calls("GetObject"));
    }

    [Theory]
    [InlineData("metrics=validation:auc:0.91,train:loss:0.25", """{"metrics":{"validation:auc":0.91,"train:loss":0.25}}""")]
    [InlineData("metrics=", """{"metrics":{}}""")]
    [InlineData("lines=1", """{"metrics":{}}""")]
    [InlineData("metrics=loss:NaN,steps:1200", """{"metrics":{"loss":null,"steps":1200}}""")]
    public async Task Training_job_output_is_its_final_metrics(string script, string output)
    {
        await using var rig = await SageMakerRig.StartAsync();
        var seen = await SageMakerRig.RunToEndAsync(rig.Training, SageMakerRig.Job("train", backend: "sagemaker-training"),
            SageMakerRig.Task("queued=50ms;run=300ms;" + script, backend: "sagemaker-training"));

        Assert.Equal(JobState.Succeeded, seen[^1].State);
        Assert.Equal(output, seen[^1].Output);
    }

    [Fact]
    public async Task Failed_training_job_has_no_output()
    {
        await using var rig = await SageMakerRig.StartAsync();
        var seen = await SageMakerRig.RunToEndAsync(rig.Training, SageMakerRig.Job("train-bad", backend: "sagemaker-training"),
            SageMakerRig.Task("queued=50ms;run=300ms;outcome=failed;metrics=auc:0.5", backend: "sagemaker-training"));

        Assert.Equal(JobState.Failed, seen[^1].State);
        Assert.Null(seen[^1].Output);
    }

    [Fact]
    public async Task S3_client_reads_an_object_whose_key_needs_encoding()
    {
        await using var rig = await SageMakerRig.StartAsync();
        const string Key = "eval/run 1/a+b=c/ünï//metrics (final).json";
        rig.Emulator.Objects.Write("ml-bucket", Key, """{"ok": true}""");

        var content = await rig.S3Client.GetObjectAsync(new S3Location("ml-bucket", Key), TaskOutputs.MaxBytes, CancellationToken.None);

        Assert.False(content.TooLarge);
        Assert.Equal("""{"ok": true}""", Encoding.UTF8.GetString(content.Body.Span));
    }

    [Fact]
    public async Task S3_client_reads_at_most_the_limit_and_one_byte_of_an_object_of_unknown_length()
    {
        var body = new CountingStream(10 << 20);
        using var http = new HttpClient(new StubHandler(() => new HttpResponseMessage(HttpStatusCode.OK) { Content = new StreamContent(body) }));
        var s3 = new S3Client(http, () => new AwsEndpoint(new Uri("http://s3.test"), "us-east-1"),
            new StaticAwsCredentialSource(new AwsCredentials("AKID", "secret")), new AwsRetryPolicy(new AwsRetryOptions()), TimeProvider.System, NullLogger.Instance);

        var content = await s3.GetObjectAsync(new S3Location("b", "k"), TaskOutputs.MaxBytes, CancellationToken.None);

        Assert.True(content.TooLarge);
        Assert.Null(content.Length);
        Assert.Equal(TaskOutputs.MaxBytes + 1, body.BytesRead);
    }

    [Fact]
    public async Task S3_client_refuses_by_Content_Length_without_reading_the_body()
    {
        var body = new CountingStream(1 << 20);
        using var http = new HttpClient(new StubHandler(() =>
        {
            var content = new StreamContent(body);
            content.Headers.ContentLength = 1 << 20;
            return new HttpResponseMessage(HttpStatusCode.OK) { Content = content };
        }));
        var s3 = new S3Client(http, () => new AwsEndpoint(new Uri("http://s3.test"), "us-east-1"),
            new StaticAwsCredentialSource(new AwsCredentials("AKID", "secret")), new AwsRetryPolicy(new AwsRetryOptions()), TimeProvider.System, NullLogger.Instance);

        var content = await s3.GetObjectAsync(new S3Location("b", "k"), TaskOutputs.MaxBytes, CancellationToken.None);

        Assert.True(content.TooLarge);
        Assert.Equal(1 << 20, content.Length);
        Assert.Equal(0, body.BytesRead);
    }

    private sealed class StubHandler(Func<HttpResponseMessage> answer) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            Task.FromResult(answer());
    }

    /// <summary>A body of <c>length</c> bytes of '{' that counts how many were read.</summary>
    private sealed class CountingStream(long length) : Stream
    {
        public long BytesRead { get; private set; }

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => BytesRead; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count)
        {
            var n = (int)Math.Min(count, length - BytesRead);
            buffer.AsSpan(offset, n).Fill((byte)'{');
            BytesRead += n;
            return n;
        }

        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
