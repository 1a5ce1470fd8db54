using Batchyard.Dags;

namespace Batchyard.Runs;

public enum TriggerDecision
{
    /// <summary>Not decided yet: some upstream task has still to finish.</summary>
    Wait,
    Run,
    Skip,
    UpstreamFailed,
}

/// <summary>Airflow's trigger rules over a task's direct upstream states. A task with no upstream runs at once.</summary>
public static class TriggerRules
{
    public static TriggerDecision Decide(TriggerRule rule, IEnumerable<TaskState> upstream)
    {
        int total = 0, done = 0, succeeded = 0, failed = 0, skipped = 0;
        foreach (var state in upstream)
        {
            total++;
            if (!state.IsFinal())
            {
                continue;
            }
            done++;
            if (state.IsFailure())
            {
                failed++;
            }
            else if (state == TaskState.Skipped)
            {
                skipped++;
            }
            else
            {
                succeeded++;
            }
        }
        return Decide(rule, new UpstreamTally(total, done, succeeded, failed, skipped));
    }

    public static TriggerDecision Decide(TriggerRule rule, UpstreamTally upstream)
    {
        var (total, done, succeeded, failed, skipped) = upstream;
        if (total == 0)
        {
            return TriggerDecision.Run;
        }
        var allDone = done == total;

        return rule switch
        {
            TriggerRule.AllSuccess when failed > 0 => TriggerDecision.UpstreamFailed,
            TriggerRule.AllSuccess when skipped > 0 => TriggerDecision.Skip,
            TriggerRule.AllSuccess when succeeded == total => TriggerDecision.Run,

            TriggerRule.AllFailed when succeeded > 0 || skipped > 0 => TriggerDecision.Skip,
            TriggerRule.AllFailed when failed == total => TriggerDecision.Run,

            TriggerRule.AllDone when allDone => TriggerDecision.Run,

            TriggerRule.OneSuccess when succeeded > 0 => TriggerDecision.Run,
            TriggerRule.OneSuccess when allDone && skipped == total => TriggerDecision.Skip,
            TriggerRule.OneSuccess when allDone => TriggerDecision.UpstreamFailed,

            TriggerRule.OneFailed when failed > 0 => TriggerDecision.Run,
            TriggerRule.OneFailed when allDone => TriggerDecision.Skip,

            TriggerRule.NoneFailed when failed > 0 => TriggerDecision.UpstreamFailed,
            TriggerRule.NoneFailed when allDone => TriggerDecision.Run,

            _ => TriggerDecision.Wait,
        };
    }
}
