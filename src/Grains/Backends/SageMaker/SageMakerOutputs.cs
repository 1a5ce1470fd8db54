using System.Buffers;
using System.Text.Json;
using Batchyard.Aws;

namespace Batchyard.Backends.SageMaker;

/// <summary>
/// What a succeeded SageMaker job leaves as its attempt's output, or the reason it fails the attempt instead;
/// both are checked by <see cref="TaskOutputs"/>.
/// </summary>
public static class SageMakerOutputs
{
    /// <summary>
    /// A processing job's output: the S3 object named by the task's <c>output_json</c>. Throttling, 5xx and network
    /// errors that outlast the client's retries are thrown as <see cref="TransientBackendException"/>: they say
    /// nothing about the job, so they must not fail the attempt.
    /// </summary>
    public static async Task<(string? Output, string? Error)> ReadObjectAsync(S3Client s3, string outputUri, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(s3);
        var source = $"output_json {outputUri}";
        if (!S3Location.TryParse(outputUri, out var location))
        {
            return (null, $"output_json '{outputUri}' is not an s3://bucket/key URI");
        }
        S3ObjectContent content;
        try
        {
            content = await s3.GetObjectAsync(location, TaskOutputs.MaxBytes, cancellationToken).ConfigureAwait(false);
        }
        catch (AwsResourceNotFoundException e)
        {
            return (null, e.ErrorCode == "NoSuchBucket"
                ? $"{source}: no such bucket '{location.Bucket}'"
                : $"{source}: no such object (the job wrote no output there)");
        }
        catch (Exception e) when (AwsRetryPolicy.IsRetryable(e))
        {
            throw new TransientBackendException($"reading {source} failed for now: {e.Message}", e);
        }
        catch (AwsServiceException e)
        {
            // Refused for good (permissions, a bad signature): the attempt says why instead of waiting forever.
            return (null, $"{source}: {e.ErrorCode}: {e.ServiceMessage}");
        }
        catch (Exception e) when (e is InvalidOperationException or UriFormatException)
        {
            return (null, $"{source}: S3 is not configured: {e.Message}");
        }
        return content.TooLarge
            ? (null, TaskOutputs.TooLarge(source, content.Length))
            : TaskOutputs.Read(content.Body.Span, source);
    }

    /// <summary>
    /// A training job's output: its <c>FinalMetricDataList</c> as <c>{"metrics": {"name": value}}</c> (an empty object
    /// when it has none). A value JSON cannot hold (NaN, ±Infinity) is written as null.
    /// </summary>
    public static (string? Output, string? Error) FromMetrics(SageMakerJobSnapshot job)
    {
        ArgumentNullException.ThrowIfNull(job);
        // The last value of a name wins, should SageMaker ever list one twice.
        var metrics = new Dictionary<string, double?>(StringComparer.Ordinal);
        foreach (var metric in job.FinalMetrics)
        {
            if (!string.IsNullOrEmpty(metric.MetricName))
            {
                metrics[metric.MetricName] = metric.Value;
            }
        }

        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteStartObject("metrics");
            foreach (var (name, value) in metrics)
            {
                if (value is { } number && double.IsFinite(number))
                {
                    writer.WriteNumber(name, number);
                }
                else
                {
                    writer.WriteNull(name);
                }
            }
            writer.WriteEndObject();
            writer.WriteEndObject();
        }
        return TaskOutputs.Read(buffer.WrittenSpan, $"FinalMetricDataList of training job {job.Name}");
    }
}
