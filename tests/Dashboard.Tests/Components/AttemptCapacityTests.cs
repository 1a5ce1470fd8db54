using System.Collections.Immutable;
using Batchyard.Dashboard.Components.Shared;
using Batchyard.Runs;
using Bunit;
using MudBlazor.Services;

namespace Batchyard.Dashboard.Tests.Components;

/// <summary>The chosen attempt's spot saving, warm pool and capacity wait on the run page.</summary>
public sealed class AttemptCapacityTests : BunitContext
{
    public AttemptCapacityTests()
    {
        Services.AddMudServices();
        JSInterop.Mode = JSRuntimeMode.Loose;
    }

    [Fact]
    public void SpotAttempt_ShowsItsSavingAndWarmPool()
    {
        var attempt = new AttemptDetails
        {
            Attempt = 1,
            State = AttemptState.Succeeded,
            Details = ImmutableDictionary<string, string>.Empty
                .Add("spot", "true").Add("spotSaving", "0.6").Add("billableSeconds", "4").Add("trainingSeconds", "10")
                .Add("warmPoolStatus", "Available"),
        };

        var facts = Render<AttemptCapacity>(p => p.Add(c => c.Attempt, attempt)).Find("[data-testid=attempt-capacity]").TextContent;

        Assert.Contains("spot saving", facts, StringComparison.Ordinal);
        Assert.Contains("60%", facts.Replace(" ", "", StringComparison.Ordinal), StringComparison.Ordinal);
        Assert.Contains("4 of 10 s billed", facts, StringComparison.Ordinal);
        Assert.Contains("Available", facts, StringComparison.Ordinal);
    }

    [Fact]
    public void QueuedAttempt_ShowsWhatItWaitsFor_AndAPlainAttemptShowsNothing()
    {
        var waiting = new AttemptDetails { Attempt = 1, State = AttemptState.Queued, Reason = "waiting for quota: ml.g5.xlarge 2 of 2 in use" };
        Assert.Contains("waiting for quota: ml.g5.xlarge 2 of 2 in use", Render<AttemptCapacity>(p => p.Add(c => c.Attempt, waiting)).Markup, StringComparison.Ordinal);

        var plain = new AttemptDetails { Attempt = 1, State = AttemptState.Failed, Reason = "exit code 1" };
        Assert.Empty(Render<AttemptCapacity>(p => p.Add(c => c.Attempt, plain)).FindAll("[data-testid=attempt-capacity]"));
    }
}
