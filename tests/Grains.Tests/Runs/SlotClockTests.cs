using System.Collections.Concurrent;
using Batchyard.Runs;
using Microsoft.Extensions.Time.Testing;

namespace Batchyard.Grains.Tests.Runs;

public sealed class SlotClockTests
{
    private static readonly DateTimeOffset Slot = new(2026, 12, 3, 8, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task EveryRunOfAnInstant_BeginsAtIt_AndGoesOnOnlyOnceAllHaveAnswered()
    {
        var time = new FakeTimeProvider(Slot.AddSeconds(-30));
        var clock = new SlotClock(time);
        var begun = new ConcurrentBag<int>();
        var wentOn = new ConcurrentBag<int>();
        var lastBegin = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        for (var i = 0; i < 3; i++)
        {
            var n = i;
            clock.Arm(Slot, () => { begun.Add(n); return n == 2 ? lastBegin.Task : Task.FromResult(true); }, () => { wentOn.Add(n); return Task.CompletedTask; });
        }
        // Taken back before the instant: never called.
        clock.Arm(Slot, () => { begun.Add(99); return Task.FromResult(true); }, () => { wentOn.Add(99); return Task.CompletedTask; }).Dispose();
        // A run that was begun already (by its wake reminder) answers false: it is not told to go on.
        clock.Arm(Slot, () => { begun.Add(7); return Task.FromResult(false); }, () => { wentOn.Add(7); return Task.CompletedTask; });
        Assert.Equal(4, clock.Waiting);

        time.Advance(TimeSpan.FromSeconds(29));
        await Task.Delay(50);
        Assert.Empty(begun);

        time.Advance(TimeSpan.FromSeconds(1));
        await WaitUntil(() => begun.Count == 4);
        Assert.Equal([0, 1, 2, 7], begun.Order());
        Assert.Equal(0, clock.Waiting);

        // Two have answered; the third has not: nobody goes on yet.
        await Task.Delay(50);
        Assert.Empty(wentOn);
        lastBegin.SetResult(true);
        await WaitUntil(() => wentOn.Count == 3);
        Assert.Equal([0, 1, 2], wentOn.Order());
    }

    [Fact]
    public async Task BegunRuns_WaitToGoOnWhileThePoolIsBacklogged_ButNoLongerThanThePaceLimit()
    {
        var time = new FakeTimeProvider(Slot.AddSeconds(-1));
        var backlog = 10_000L;
        var clock = new SlotClock(time) { BacklogLimit = 100, Backlog = () => Interlocked.Read(ref backlog), PaceLimit = TimeSpan.FromSeconds(1) };
        var wentOn = 0;
        for (var i = 0; i < 10; i++)
        {
            clock.Arm(Slot, () => Task.FromResult(true), () => { Interlocked.Increment(ref wentOn); return Task.CompletedTask; });
        }
        time.Advance(TimeSpan.FromSeconds(1));
        await Task.Delay(300);
        // Begun, but the pool has work queued: nobody goes on yet.
        Assert.Equal(0, Volatile.Read(ref wentOn));

        Interlocked.Exchange(ref backlog, 0);
        await WaitUntil(() => Volatile.Read(ref wentOn) == 10);

        // A backlog that never drains holds an instant's runs no longer than the pace limit.
        var stuck = new SlotClock(time) { BacklogLimit = 100, Backlog = () => 10_000, PaceLimit = TimeSpan.FromMilliseconds(500) };
        var later = 0;
        for (var i = 0; i < 10; i++)
        {
            stuck.Arm(Slot.AddMinutes(1), () => Task.FromResult(true), () => { Interlocked.Increment(ref later); return Task.CompletedTask; });
        }
        time.Advance(TimeSpan.FromMinutes(1));
        await WaitUntil(() => Volatile.Read(ref later) == 10);
    }

    [Fact]
    public async Task ARunThatNeverAnswers_HoldsTheOthersNoLongerThanTheBeginLimit_AndGoesOnWhenItDoes()
    {
        var time = new FakeTimeProvider(Slot.AddSeconds(-1));
        var clock = new SlotClock(time);
        var wentOn = new ConcurrentBag<string>();
        var slow = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        var begins = 0;
        clock.Arm(Slot, () => { Interlocked.Increment(ref begins); return Task.FromResult(true); }, () => { wentOn.Add("quick"); return Task.CompletedTask; });
        clock.Arm(Slot, () => { Interlocked.Increment(ref begins); return slow.Task; }, () => { wentOn.Add("slow"); return Task.CompletedTask; });
        time.Advance(TimeSpan.FromSeconds(1));
        await WaitUntil(() => Volatile.Read(ref begins) == 2);
        await Task.Delay(50);
        Assert.Empty(wentOn);

        // The clock's wait is on the fake clock: advanced in steps until it has passed the limit (it started a hair after the begins).
        var advanced = TimeSpan.Zero;
        await WaitUntil(() =>
        {
            time.Advance(TimeSpan.FromMilliseconds(100));
            advanced += TimeSpan.FromMilliseconds(100);
            return wentOn.Count == 1;
        });
        Assert.True(advanced >= SlotClock.BeginLimit, $"went on after {advanced}");
        Assert.Equal(["quick"], wentOn);
        slow.SetResult(true);
        await WaitUntil(() => wentOn.Count == 2);
    }

    [Fact]
    public async Task BegunRuns_GoOnABoundedNumberAtATime()
    {
        var time = new FakeTimeProvider(Slot.AddSeconds(-1));
        var clock = new SlotClock(time);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        int inFlight = 0, most = 0, done = 0;
        const int runs = SlotClock.FollowUpsAtOnce * 3;
        for (var i = 0; i < runs; i++)
        {
            clock.Arm(Slot, () => Task.FromResult(true), async () =>
            {
                var now = Interlocked.Increment(ref inFlight);
                InterlockedMax(ref most, now);
                await release.Task;
                Interlocked.Decrement(ref inFlight);
                Interlocked.Increment(ref done);
            });
        }
        time.Advance(TimeSpan.FromSeconds(1));
        await WaitUntil(() => Volatile.Read(ref inFlight) == SlotClock.FollowUpsAtOnce);
        await Task.Delay(50);
        Assert.Equal(SlotClock.FollowUpsAtOnce, Volatile.Read(ref most));
        release.SetResult();
        await WaitUntil(() => Volatile.Read(ref done) == runs);
        Assert.Equal(SlotClock.FollowUpsAtOnce, Volatile.Read(ref most));
    }

    [Fact]
    public async Task ARunArmedForAnInstantPassedAlready_BeginsAtOnce()
    {
        // A run re-armed on activation after its slot (a failover survivor): its instant fires at once and finds it.
        var time = new FakeTimeProvider(Slot.AddSeconds(5));
        var clock = new SlotClock(time);
        var begun = 0;
        var wentOn = 0;
        for (var i = 0; i < 50; i++)
        {
            clock.Arm(Slot, () => { Interlocked.Increment(ref begun); return Task.FromResult(true); }, () => { Interlocked.Increment(ref wentOn); return Task.CompletedTask; });
        }
        await WaitUntil(() => Volatile.Read(ref wentOn) == 50);
        Assert.Equal(50, Volatile.Read(ref begun));
        Assert.Equal(0, clock.Waiting);
    }

    [Fact]
    public async Task ABeginThatThrows_IsSkipped_AndTheOthersGoOn()
    {
        var time = new FakeTimeProvider(Slot);
        var clock = new SlotClock(time);
        var wentOn = 0;
        clock.Arm(Slot, () => throw new InvalidOperationException("unreachable"), () => { Interlocked.Increment(ref wentOn); return Task.CompletedTask; });
        clock.Arm(Slot, () => Task.FromException<bool>(new TimeoutException()), () => { Interlocked.Increment(ref wentOn); return Task.CompletedTask; });
        clock.Arm(Slot, () => Task.FromResult(true), () => { Interlocked.Increment(ref wentOn); return Task.CompletedTask; });
        await WaitUntil(() => Volatile.Read(ref wentOn) == 1);
        await Task.Delay(50);
        Assert.Equal(1, Volatile.Read(ref wentOn));
    }

    private static void InterlockedMax(ref int target, int value)
    {
        var current = Volatile.Read(ref target);
        while (value > current && Interlocked.CompareExchange(ref target, value, current) is var seen && seen != current)
        {
            current = seen;
        }
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
