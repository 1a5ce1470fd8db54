using System.Diagnostics;
using Batchyard.Grains;
using Batchyard.History;
using Orleans.Runtime;

namespace Batchyard.Silo.Hosting;

/// <summary>
/// Resumes the active runs as soon as a silo is declared dead, instead of at their next wake reminder (up to
/// <c>Batchyard:WakePeriod</c> later): it asks the history (the journal's projection) which runs are running
/// and has each run grain resume, which re-activates it on a survivor and re-orders its jobs' supervisors,
/// which re-attach to their jobs (or find them lost and retry). The same
/// happens when a silo starts as the only one (the whole cluster was down). One silo does it: the oldest active
/// one. The reminders stay the guarantee; this only shortens the wait.
/// </summary>
internal sealed partial class FailoverResumer(
    IClusterMembershipService membership,
    ILocalSiloDetails self,
    IRunHistoryStore history,
    IGrainFactory grains,
    ILogger<FailoverResumer> logger) : BackgroundService
{
    private const int Parallelism = 16;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var knownDead = new HashSet<SiloAddress>();
        var firstActive = true;
        try
        {
            await foreach (var snapshot in membership.MembershipUpdates.WithCancellation(stoppingToken))
            {
                var dead = snapshot.Members.Values.Where(m => m.Status == SiloStatus.Dead).Select(m => m.SiloAddress).ToList();
                var newlyDead = dead.Where(knownDead.Add).ToList();
                var active = snapshot.Members.Values.Where(m => m.Status == SiloStatus.Active).Select(m => m.SiloAddress).ToList();
                if (!active.Contains(self.SiloAddress))
                {
                    continue;
                }

                // Dead entries already in the table when this silo became active are history, not a failover.
                var reason = firstActive
                    ? active.Count == 1 ? "cluster start" : null
                    : newlyDead.Count > 0 ? "silo " + string.Join(", ", newlyDead) + " died" : null;
                firstActive = false;
                if (reason is not null && active.Min() == self.SiloAddress)
                {
                    await ResumeRunningAsync(reason, stoppingToken);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // The silo is stopping.
        }
    }

    private async Task ResumeRunningAsync(string reason, CancellationToken cancellationToken)
    {
        var watch = Stopwatch.StartNew();
        try
        {
            var runs = await history.ListRunningAsync(cancellationToken);
            var failed = 0;
            await Parallel.ForEachAsync(runs, new ParallelOptions { MaxDegreeOfParallelism = Parallelism, CancellationToken = cancellationToken }, async (run, _) =>
            {
                try
                {
                    await grains.GetGrain<IDagRunGrain>(RunKeys.Run(run.DagId, run.RunId)).ResumeAsync();
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    // Its own reminder will try again; one bad run must not hold back the others.
                    Interlocked.Increment(ref failed);
                    LogRunNotResumed(run.DagId, run.RunId, ex.Message);
                }
            });
            LogResumed(reason, runs.Length - failed, watch.ElapsedMilliseconds);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            LogResumeFailed(reason, ex.Message);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Failover ({Reason}): {Count} running run(s) resumed in {ElapsedMs} ms")]
    private partial void LogResumed(string reason, int count, long elapsedMs);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Failover ({Reason}): could not list running runs, their reminders will resume them: {Error}")]
    private partial void LogResumeFailed(string reason, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{DagId}/{RunId}: not resumed now, its reminder will: {Error}")]
    private partial void LogRunNotResumed(string dagId, string runId, string error);
}
