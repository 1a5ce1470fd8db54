using System.Diagnostics;
using System.Text.Json;

namespace Batchyard.SageMaker.Tests;

/// <summary>The emulator must satisfy the official clients: AWS SDK for JavaScript v3 and botocore.</summary>
public sealed class OfficialClientTests
{
    private static async Task<JsonElement> RunAsync(string program, string[] arguments, SageMakerRig rig)
    {
        var start = new ProcessStartInfo(program)
        {
            WorkingDirectory = TestPaths.Clients,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        foreach (var key in new[] { "AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_SAGEMAKER", "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", "AWS_ENDPOINT_URL_S3", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE" })
        {
            start.Environment.Remove(key);
        }
        start.Environment["AWS_ENDPOINT_URL"] = rig.Endpoint.ToString().TrimEnd('/');
        start.Environment["AWS_ACCESS_KEY_ID"] = rig.Credentials.AccessKeyId;
        start.Environment["AWS_SECRET_ACCESS_KEY"] = rig.Credentials.SecretAccessKey;
        start.Environment["AWS_REGION"] = "us-east-1";
        start.Environment["AWS_DEFAULT_REGION"] = "us-east-1";
        start.Environment["AWS_EC2_METADATA_DISABLED"] = "true";
        start.Environment["AWS_CONFIG_FILE"] = "/dev/null";
        start.Environment["AWS_SHARED_CREDENTIALS_FILE"] = "/dev/null";

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync(cts.Token);
        var text = await output;
        Assert.True(process.ExitCode == 0, $"{program} exited {process.ExitCode}: {await errors}\n{text}");
        return JsonDocument.Parse(text.Trim().Split('\n')[^1]).RootElement.Clone();
    }

    [Fact]
    public async Task Node_sdk_creates_describes_lists_stops_and_reads_logs()
    {
        Assert.True(Directory.Exists(Path.Combine(TestPaths.Clients, "node_modules", "@aws-sdk", "client-sagemaker")),
            $"node_modules is missing: run `npm ci` in {TestPaths.Clients}");
        await using var rig = await SageMakerRig.StartAsync();

        var result = await RunAsync("node", ["fidelity.mjs", "node-fidelity"], rig);

        Assert.StartsWith("arn:aws:sagemaker:", result.GetProperty("arn").GetString(), StringComparison.Ordinal);
        Assert.True(result.GetProperty("startedIsDate").GetBoolean());
        Assert.Equal(["node-fidelity"], result.GetProperty("listed").EnumerateArray().Select(e => e.GetString()!));
        Assert.Equal(1, result.GetProperty("streams").GetInt32());
        Assert.Contains("line 1 of 300", result.GetProperty("firstEvent").GetString(), StringComparison.Ordinal);
        Assert.True(result.GetProperty("eventTimestampIsNumber").GetBoolean());
        Assert.Equal("Stopped", result.GetProperty("finalStatus").GetString());
        Assert.Equal("ValidationException", result.GetProperty("missing").GetString());
        Assert.Equal("ResourceInUse", result.GetProperty("duplicate").GetString());
    }

    [Fact]
    public async Task Botocore_creates_describes_lists_stops_and_reads_logs()
    {
        await using var rig = await SageMakerRig.StartAsync();

        var result = await RunAsync("python3", ["fidelity_botocore.py", "boto-fidelity"], rig);

        Assert.True(result.GetProperty("startedIsDatetime").GetBoolean());
        Assert.Equal(["boto-fidelity"], result.GetProperty("listed").EnumerateArray().Select(e => e.GetString()!));
        Assert.Equal(2, result.GetProperty("streams").GetInt32());
        Assert.Contains("line 1 of 300", result.GetProperty("firstEvent").GetString(), StringComparison.Ordinal);
        Assert.Equal("Stopped", result.GetProperty("finalStatus").GetString());
        Assert.Equal("ValidationException", result.GetProperty("missing").GetString());
        Assert.Equal("ValidationException", result.GetProperty("invalid").GetString());
    }

    [Fact]
    public async Task Node_sdk_puts_and_gets_S3_objects_and_reads_final_metrics()
    {
        Assert.True(Directory.Exists(Path.Combine(TestPaths.Clients, "node_modules", "@aws-sdk", "client-s3")),
            $"node_modules is missing: run `npm ci` in {TestPaths.Clients}");
        await using var rig = await SageMakerRig.StartAsync();

        var result = await RunAsync("node", ["outputs.mjs", "node-outputs"], rig);

        Assert.Equal("""{"auc":0.91,"shards":["a","b"]}""", result.GetProperty("text").GetString());
        Assert.Equal("application/json", result.GetProperty("contentType").GetString());
        Assert.Equal(31, result.GetProperty("contentLength").GetInt32());
        Assert.Matches("^\"[0-9a-f]{32}\"$", result.GetProperty("etag").GetString());
        Assert.True(result.GetProperty("lastModifiedIsDate").GetBoolean());
        Assert.Equal("NoSuchKey", result.GetProperty("missingKey").GetString());
        Assert.Equal("NoSuchBucket", result.GetProperty("missingBucket").GetString());
        Assert.Equal("Completed", result.GetProperty("trainingStatus").GetString());
        Assert.Equal(0.91, result.GetProperty("metrics").GetProperty("validation:auc").GetDouble());
        Assert.Equal(0.25, result.GetProperty("metrics").GetProperty("train:loss").GetDouble());
        Assert.True(result.GetProperty("gradIsNaN").GetBoolean());
        Assert.True(result.GetProperty("metricValueIsNumber").GetBoolean());
        Assert.True(result.GetProperty("metricTimestampIsDate").GetBoolean());
        Assert.Equal(1, rig.Emulator.Stats.Calls("PutObject"));
    }

    [Fact]
    public async Task Botocore_puts_and_gets_S3_objects_and_reads_final_metrics()
    {
        await using var rig = await SageMakerRig.StartAsync();

        var result = await RunAsync("python3", ["outputs_botocore.py", "boto-outputs"], rig);

        Assert.Equal("""{"auc": 0.91, "shards": ["a", "b"]}""", result.GetProperty("text").GetString());
        Assert.Equal("application/json", result.GetProperty("contentType").GetString());
        Assert.Equal(35, result.GetProperty("contentLength").GetInt32());
        Assert.True(result.GetProperty("lastModifiedIsDatetime").GetBoolean());
        Assert.Equal("NoSuchKey", result.GetProperty("missingKey").GetString());
        Assert.Equal("NoSuchBucket", result.GetProperty("missingBucket").GetString());
        Assert.Equal("Completed", result.GetProperty("trainingStatus").GetString());
        Assert.Equal(0.91, result.GetProperty("auc").GetDouble());
        Assert.Equal("NaN", result.GetProperty("loss").GetString());
        Assert.True(result.GetProperty("metricTimestampIsDatetime").GetBoolean());
        Assert.Equal(1, rig.Emulator.Stats.Calls("PutObject"));
    }

    [Fact]
    public async Task Botocore_reads_a_warm_pool_reused_by_a_matching_job_and_then_terminated()
    {
        await using var rig = await SageMakerRig.StartAsync();

        var result = await RunAsync("python3", ["warmpool_botocore.py", "boto-warm"], rig);

        Assert.Equal("Available", result.GetProperty("available").GetString());
        Assert.Equal("Reused", result.GetProperty("reused").GetString());
        Assert.Equal("boto-warm-2", result.GetProperty("reusedBy").GetString());
        // The first pool was kept from its job's end until the second job's create (about a second, rounded up).
        var retained = result.GetProperty("reusedRetained").GetInt32();
        Assert.InRange(retained, 1, 5);
        Assert.Equal("Terminated", result.GetProperty("secondPool").GetString());
        Assert.Equal(1, result.GetProperty("secondRetained").GetInt32());
    }
}
