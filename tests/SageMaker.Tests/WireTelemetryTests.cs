using System.Diagnostics;
using System.Diagnostics.Metrics;
using Batchyard.Aws;
using Batchyard.SageMakerEmulator;
using Batchyard.Telemetry;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace Batchyard.SageMaker.Tests;

/// <summary>
/// The wire's telemetry against the emulator, which checks every signature: W3C trace context on the requests
/// (unsigned, so signatures still pass), and every try counted by outcome, throttling apart.
/// </summary>
public sealed class WireTelemetryTests : IAsyncLifetime, IDisposable
{
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private SageMakerRig _rig = null!;

    public async Task InitializeAsync() => _rig = await SageMakerRig.StartAsync();

    public async Task DisposeAsync() => await _rig.DisposeAsync();

    public void Dispose() => _services.Dispose();

    [Fact]
    public async Task Request_CarriesTheTraceparentOfItsClientSpan_AndPassesTheSignatureCheck()
    {
        var wire = Wire(AwsServiceInfo.SageMaker, SageMakerClient.Json, metrics: null);
        var spans = new List<Activity>();
        using var collect = Collect(spans);
        using var parent = BatchyardTracing.Source.StartActivity("test parent")!;

        // An answer at all means the emulator accepted the signature (it answers 403 otherwise).
        await new SageMakerClient(wire).ListProcessingJobsAsync(new ListProcessingJobsRequest { MaxResults = 1 }, CancellationToken.None);

        var (operation, traceParent) = Assert.Single(_rig.Emulator.Stats.TraceParents);
        Assert.Equal("ListProcessingJobs", operation);
        Assert.Matches("^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$", traceParent);
        Assert.True(ActivityContext.TryParse(traceParent, null, out var sent));
        var call = Assert.Single(spans, s => s.DisplayName == "sagemaker ListProcessingJobs" && s.TraceId == parent.TraceId);
        Assert.Equal(parent.TraceId, sent.TraceId);
        Assert.Equal(call.SpanId, sent.SpanId);
        Assert.Equal(parent.SpanId, call.ParentSpanId);
        Assert.Equal(ActivityKind.Client, call.Kind);
    }

    [Fact]
    public async Task ThrottledTries_AreCountedAsThrottled_AndTheRetryAsSuccess()
    {
        var metrics = new BatchyardMetrics(_services.GetRequiredService<IMeterFactory>());
        var counted = new List<(string Operation, string Outcome)>();
        using var meter = ListenToRequests(counted);
        var wire = Wire(AwsServiceInfo.SageMaker, SageMakerClient.Json, metrics);
        _rig.Emulator.Faults.Settings = new FaultSettings { ThrottleRate = 0.5, Seed = 11, Operations = ["ListProcessingJobs"] };

        for (var i = 0; i < 12; i++)
        {
            try
            {
                await new SageMakerClient(wire).ListProcessingJobsAsync(new ListProcessingJobsRequest { MaxResults = 1 }, CancellationToken.None);
            }
            catch (AwsThrottlingException)
            {
                // Out of tries: every one of them was throttled, and counted so.
            }
        }

        var throttled = _rig.Emulator.Stats.FaultCount(Fault.Throttle);
        Assert.True(throttled > 0, "the emulator should have throttled some tries");
        Assert.Equal(throttled, counted.Count(c => c == ("ListProcessingJobs", "throttled")));
        Assert.Equal(_rig.Emulator.Stats.Calls("ListProcessingJobs") - throttled, counted.Count(c => c == ("ListProcessingJobs", "success")));
    }

    private AwsJsonClient Wire(AwsServiceInfo service, System.Text.Json.JsonSerializerOptions json, BatchyardMetrics? metrics) =>
        new(_rig.Http, service, new AwsEndpoint(_rig.Endpoint, "us-east-1"), new StaticAwsCredentialSource(_rig.Credentials),
            new AwsRetryPolicy(_rig.Options.Retry), json, TimeProvider.System, NullLogger.Instance)
        {
            AttemptTimeout = _rig.Options.AttemptTimeout,
            Metrics = metrics,
        };

    private static ActivityListener Collect(List<Activity> spans)
    {
        var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == BatchyardTracing.SourceName,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = span =>
            {
                lock (spans)
                {
                    spans.Add(span);
                }
            },
        };
        ActivitySource.AddActivityListener(listener);
        return listener;
    }

    /// <summary>Listens to this test's own meter (its scope is this test's meter factory), not to any other's in the process.</summary>
    private MeterListener ListenToRequests(List<(string, string)> counted)
    {
        var factory = _services.GetRequiredService<IMeterFactory>();
        var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Scope == factory && instrument.Name == "batchyard.sagemaker_requests")
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            string? operation = null, outcome = null;
            foreach (var tag in tags)
            {
                operation = tag.Key == "operation" ? tag.Value as string : operation;
                outcome = tag.Key == "outcome" ? tag.Value as string : outcome;
            }
            lock (counted)
            {
                for (var i = 0; i < value; i++)
                {
                    counted.Add((operation!, outcome!));
                }
            }
        });
        listener.Start();
        return listener;
    }
}
