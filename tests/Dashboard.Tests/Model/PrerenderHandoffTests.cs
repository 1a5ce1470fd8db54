using Batchyard.Dashboard.Hosting;
using Microsoft.Extensions.Time.Testing;

namespace Batchyard.Dashboard.Tests.Model;

public class PrerenderHandoffTests
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 1, 0, 0, 0, TimeSpan.Zero));

    [Fact]
    public void AToken_IsTakenOnce_AsTheTypeItWasPutAs()
    {
        var handoff = new PrerenderHandoff(_time);
        var token = handoff.Put("the run");

        Assert.Null(handoff.Take<Uri>(token));
        var other = handoff.Put("another");
        Assert.Equal("another", handoff.Take<string>(other));
        Assert.Null(handoff.Take<string>(other));
        Assert.Null(handoff.Take<string>(null));
        Assert.Null(handoff.Take<string>("unknown"));
    }

    [Fact]
    public void AToken_NotTakenWithinItsLifetime_IsGone()
    {
        var handoff = new PrerenderHandoff(_time);
        var kept = handoff.Put("kept");
        var late = handoff.Put("late");

        _time.Advance(PrerenderHandoff.Lifetime - TimeSpan.FromSeconds(1));
        Assert.Equal("kept", handoff.Take<string>(kept));
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Null(handoff.Take<string>(late));
    }

    [Fact]
    public void BeyondItsCapacity_TheOldestGoesFirst()
    {
        var handoff = new PrerenderHandoff(_time);
        var tokens = new List<string>();
        for (var i = 0; i <= PrerenderHandoff.Capacity; i++)
        {
            tokens.Add(handoff.Put($"page {i}"));
            _time.Advance(TimeSpan.FromMilliseconds(10));
        }

        Assert.Null(handoff.Take<string>(tokens[0]));
        Assert.Equal("page 1", handoff.Take<string>(tokens[1]));
        Assert.Equal($"page {PrerenderHandoff.Capacity}", handoff.Take<string>(tokens[^1]));
    }
}
