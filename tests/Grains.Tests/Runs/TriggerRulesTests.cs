using Batchyard.Dags;
using Batchyard.Runs;
using static Batchyard.Runs.TaskState;

namespace Batchyard.Tests.Runs;

public sealed class TriggerRulesTests
{
    [Theory]
    [InlineData(TriggerRule.AllSuccess, new[] { Succeeded, Succeeded }, TriggerDecision.Run)]
    [InlineData(TriggerRule.AllSuccess, new[] { Succeeded, Running }, TriggerDecision.Wait)]
    [InlineData(TriggerRule.AllSuccess, new[] { Failed, Running }, TriggerDecision.UpstreamFailed)]
    [InlineData(TriggerRule.AllSuccess, new[] { Succeeded, Skipped }, TriggerDecision.Skip)]
    [InlineData(TriggerRule.AllSuccess, new[] { TimedOut, Succeeded }, TriggerDecision.UpstreamFailed)]
    [InlineData(TriggerRule.AllDone, new[] { Failed, Succeeded }, TriggerDecision.Run)]
    [InlineData(TriggerRule.AllDone, new[] { Failed, Running }, TriggerDecision.Wait)]
    [InlineData(TriggerRule.AllFailed, new[] { Failed, UpstreamFailed }, TriggerDecision.Run)]
    [InlineData(TriggerRule.AllFailed, new[] { Failed, Succeeded }, TriggerDecision.Skip)]
    [InlineData(TriggerRule.AllFailed, new[] { Failed, Running }, TriggerDecision.Wait)]
    [InlineData(TriggerRule.OneSuccess, new[] { Succeeded, Running }, TriggerDecision.Run)]
    [InlineData(TriggerRule.OneSuccess, new[] { Failed, Failed }, TriggerDecision.UpstreamFailed)]
    [InlineData(TriggerRule.OneSuccess, new[] { Skipped, Skipped }, TriggerDecision.Skip)]
    [InlineData(TriggerRule.OneSuccess, new[] { Failed, Running }, TriggerDecision.Wait)]
    [InlineData(TriggerRule.OneFailed, new[] { Failed, Running }, TriggerDecision.Run)]
    [InlineData(TriggerRule.OneFailed, new[] { Succeeded, Succeeded }, TriggerDecision.Skip)]
    [InlineData(TriggerRule.OneFailed, new[] { Succeeded, Running }, TriggerDecision.Wait)]
    [InlineData(TriggerRule.NoneFailed, new[] { Succeeded, Skipped }, TriggerDecision.Run)]
    [InlineData(TriggerRule.NoneFailed, new[] { Succeeded, Failed }, TriggerDecision.UpstreamFailed)]
    [InlineData(TriggerRule.NoneFailed, new[] { Succeeded, Running }, TriggerDecision.Wait)]
    public void Decide_UpstreamStates_GivesAirflowsAnswer(TriggerRule rule, TaskState[] upstream, TriggerDecision expected) =>
        Assert.Equal(expected, TriggerRules.Decide(rule, upstream));

    [Theory]
    [InlineData(TriggerRule.AllSuccess)]
    [InlineData(TriggerRule.AllFailed)]
    [InlineData(TriggerRule.OneFailed)]
    public void Decide_NoUpstream_Runs(TriggerRule rule) => Assert.Equal(TriggerDecision.Run, TriggerRules.Decide(rule, []));

    [Fact]
    public void DelayBefore_GrowsByBackoffAndStopsAtTheCap()
    {
        var task = new TaskDefinition { TaskId = "t", RetryDelay = TimeSpan.FromSeconds(30), RetryBackoff = 2.0, MaxRetryDelay = TimeSpan.FromMinutes(3) };
        Assert.Equal(TimeSpan.FromSeconds(30), RetryPolicy.DelayBefore(task, 1));
        Assert.Equal(TimeSpan.FromSeconds(60), RetryPolicy.DelayBefore(task, 2));
        Assert.Equal(TimeSpan.FromSeconds(120), RetryPolicy.DelayBefore(task, 3));
        Assert.Equal(TimeSpan.FromMinutes(3), RetryPolicy.DelayBefore(task, 4));
        Assert.Equal(TimeSpan.FromMinutes(3), RetryPolicy.DelayBefore(task, 60));
    }
}
