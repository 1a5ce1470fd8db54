using Batchyard.Dags;
using Batchyard.Runs;
using static Batchyard.Runs.TaskState;

namespace Batchyard.Tests.Runs;

public sealed class ReadyTrackerTests
{
    // 0 >> [1, 2] >> 3, and 4 on its own.
    private static ReadyTracker Diamond() => new([[], [0], [0], [1, 2], []]);

    [Fact]
    public void Tally_FollowsEveryChangeOfAnUpstreamTask_AsTheRulesCountStates()
    {
        var tracker = Diamond();
        var states = new[] { Pending, Pending, Pending, Pending, Pending };
        var random = new Random(7);
        TaskState[] choices = [Pending, Queued, Running, UpForRetry, Succeeded, Failed, Skipped, UpstreamFailed, TimedOut, Cancelled];
        for (var step = 0; step < 2000; step++)
        {
            var i = random.Next(states.Length);
            states[i] = choices[random.Next(choices.Length)];
            tracker.Observe(i, states[i]);

            // The tally of the join is what deciding over its upstream states directly would see.
            foreach (var rule in Enum.GetValues<TriggerRule>())
            {
                Assert.Equal(TriggerRules.Decide(rule, [states[1], states[2]]), TriggerRules.Decide(rule, tracker.Tally(3)));
            }
            Assert.Equal(states.Count(s => !s.IsFinal()), tracker.Unfinished);
        }
    }

    [Fact]
    public void TakeDirty_GivesTheDownstreamOfChangedTasksOnce_InDagOrder()
    {
        var tracker = Diamond();
        tracker.MarkAllDirty();
        Assert.Equal([0, 1, 2, 3, 4], tracker.TakeDirty());
        Assert.Empty(tracker.TakeDirty());

        tracker.Observe(0, Running);
        Assert.Empty(tracker.TakeDirty()); // still unfinished: nothing downstream can decide differently

        tracker.Observe(0, Succeeded);
        Assert.Equal([1, 2], tracker.TakeDirty());

        tracker.Observe(2, Failed);
        tracker.Observe(1, Succeeded);
        tracker.MarkDirty(4);
        Assert.Equal([3, 4], tracker.TakeDirty());

        // Clearing a finished task takes it back out of its downstream tallies.
        tracker.Observe(2, Pending);
        Assert.Equal(new UpstreamTally(2, 1, 1, 0, 0), tracker.Tally(3));
        Assert.Equal([3], tracker.TakeDirty());
    }
}
