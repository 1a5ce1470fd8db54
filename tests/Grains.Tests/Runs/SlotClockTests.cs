using Batchyard.Runs;
using Microsoft.Extensions.Time.Testing;

namespace Batchyard.Grains.Tests.Runs;

public sealed class SlotClockTests
{
    private static readonly DateTimeOffset Slot = new(2026, 12, 3, 8, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task EveryRunOfASlot_BeginsAtTheSlot_AndNoneGoesOnUntilAllHaveBegun()
    {
        var time = new FakeTimeProvider(Slot.AddSeconds(-30));
        var clock = new SlotClock(time);
        var begun = new System.Collections.Concurrent.ConcurrentBag<int>();
        var gates = new System.Collections.Concurrent.ConcurrentDictionary<int, Task>();
        for (var i = 0; i < 3; i++)
        {
            var n = i;
            clock.Arm(Slot, () => { begun.Add(n); return Task.CompletedTask; });
        }
        var withdrawn = clock.Arm(Slot, () => { begun.Add(99); return Task.CompletedTask; });
        withdrawn.Dispose();
        Assert.Equal(3, clock.Waiting);

        time.Advance(TimeSpan.FromSeconds(29));
        await Task.Delay(50);
        Assert.Empty(begun);

        time.Advance(TimeSpan.FromSeconds(1));
        await WaitUntil(() => begun.Count == 3);
        Assert.Equal([0, 1, 2], begun.Order());
        Assert.Equal(0, clock.Waiting);

        // Two have begun: they wait for the third; the third's arrival lets all three go.
        var first = clock.ArriveAsync(Slot);
        var second = clock.ArriveAsync(Slot);
        await Task.Delay(50);
        Assert.False(first.IsCompleted);
        Assert.False(second.IsCompleted);
        clock.Leave(Slot);
        await Task.WhenAll(first, second).WaitAsync(TimeSpan.FromSeconds(5));

        // A run the clock did not begin at that slot never waits.
        Assert.True(clock.ArriveAsync(Slot.AddMinutes(1)).IsCompleted);
    }

    [Fact]
    public async Task ARunThatNeverArrives_HoldsTheOthersNoLongerThanTheGateLimit()
    {
        var time = new FakeTimeProvider(Slot.AddSeconds(-1));
        var clock = new SlotClock(time);
        var calls = 0;
        clock.Arm(Slot, () => { Interlocked.Increment(ref calls); return Task.CompletedTask; });
        clock.Arm(Slot, () => { Interlocked.Increment(ref calls); return Task.CompletedTask; });
        time.Advance(TimeSpan.FromSeconds(1));
        await WaitUntil(() => Volatile.Read(ref calls) == 2);

        var arrived = clock.ArriveAsync(Slot);
        await Task.Delay(50);
        Assert.False(arrived.IsCompleted);
        time.Advance(SlotClock.GateLimit);
        await arrived.WaitAsync(TimeSpan.FromSeconds(5));
    }

    private static async Task WaitUntil(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out");
            await Task.Delay(10);
        }
    }
}
