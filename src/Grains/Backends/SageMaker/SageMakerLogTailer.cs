using System.Text;
using Batchyard.Aws;
using Batchyard.Logs;
using Microsoft.Extensions.Logging;

namespace Batchyard.Backends.SageMaker;

/// <summary>
/// Copies a job's CloudWatch streams (<c>&lt;job-name&gt;/algo-n-…</c>, one per instance) into the attempt log,
/// each pump's new events merged by timestamp. The stream tokens live in memory; after a re-attach the
/// streams are read from the start again and the first <see cref="IAttemptLog.GetLengthAsync"/> characters, which
/// the log already holds, are skipped.
/// </summary>
public sealed partial class SageMakerLogTailer(CloudWatchLogsClient logs, string logGroup, string jobName, IAttemptLog log, ILogger logger)
{
    private readonly SortedDictionary<string, string?> _tokens = new(StringComparer.Ordinal);
    private long? _skip;

    public static string LogGroupFor(SageMakerJobKind kind) =>
        kind == SageMakerJobKind.Processing ? "/aws/sagemaker/ProcessingJobs" : "/aws/sagemaker/TrainingJobs";

    /// <summary>Appends whatever arrived since the last pump. Never throws for the service's sake: logs are best effort.</summary>
    public async Task PumpAsync(CancellationToken cancellationToken)
    {
        using var span = Batchyard.Telemetry.BatchyardTracing.Source.StartActivity("fetch logs");
        span?.SetTag("batchyard.job", jobName);
        try
        {
            await DiscoverStreamsAsync(cancellationToken).ConfigureAwait(false);
            var fresh = new List<(DateTimeOffset At, string Stream, int Order, string Message)>();
            foreach (var stream in _tokens.Keys.ToList())
            {
                var order = 0;
                while (true)
                {
                    var token = _tokens[stream];
                    var page = await logs.GetLogEventsAsync(new GetLogEventsRequest
                    {
                        LogGroupName = logGroup,
                        LogStreamName = stream,
                        NextToken = token,
                        StartFromHead = token is null ? true : null,
                    }, cancellationToken).ConfigureAwait(false);
                    foreach (var e in page.Events)
                    {
                        fresh.Add((e.Timestamp, stream, order++, e.Message));
                    }
                    _tokens[stream] = page.NextForwardToken ?? token;
                    // The service hands back the token it was given once the stream has nothing more.
                    if (page.Events.Count == 0 || page.NextForwardToken is null || page.NextForwardToken == token)
                    {
                        break;
                    }
                }
            }
            await AppendAsync(fresh, cancellationToken).ConfigureAwait(false);
        }
        catch (AwsResourceNotFoundException)
        {
            // The log group (or a stream) appears only once a container has written something.
        }
        catch (Exception e) when (e is AwsServiceException or HttpRequestException or IOException or TimeoutException)
        {
            LogTailFailed(logger, jobName, e.Message);
        }
    }

    private async Task DiscoverStreamsAsync(CancellationToken cancellationToken)
    {
        string? next = null;
        do
        {
            var page = await logs.DescribeLogStreamsAsync(new DescribeLogStreamsRequest
            {
                LogGroupName = logGroup,
                LogStreamNamePrefix = jobName + "/",
                NextToken = next,
            }, cancellationToken).ConfigureAwait(false);
            foreach (var stream in page.LogStreams)
            {
                _tokens.TryAdd(stream.LogStreamName, null);
            }
            next = page.NextToken;
        }
        while (next is not null);
    }

    private async Task AppendAsync(List<(DateTimeOffset At, string Stream, int Order, string Message)> events, CancellationToken cancellationToken)
    {
        if (events.Count == 0)
        {
            return;
        }
        events.Sort((a, b) =>
        {
            var c = a.At.CompareTo(b.At);
            if (c == 0) c = string.CompareOrdinal(a.Stream, b.Stream);
            return c != 0 ? c : a.Order.CompareTo(b.Order);
        });
        var text = new StringBuilder();
        foreach (var e in events)
        {
            text.Append(e.Message.TrimEnd('\n', '\r')).Append('\n');
        }
        var chunk = text.ToString();
        _skip ??= await log.GetLengthAsync(cancellationToken).ConfigureAwait(false);
        if (_skip > 0)
        {
            var dropped = (int)Math.Min(_skip.Value, chunk.Length);
            chunk = chunk[dropped..];
            _skip -= dropped;
        }
        if (chunk.Length > 0)
        {
            await log.AppendAsync(chunk, cancellationToken).ConfigureAwait(false);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Reading CloudWatch logs of {JobName} failed, will try again: {Error}")]
    private static partial void LogTailFailed(ILogger logger, string jobName, string error);
}
