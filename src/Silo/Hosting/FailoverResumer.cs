using System.Diagnostics;
using Batchyard.Grains;
using Batchyard.Runs;
using Npgsql;
using Orleans.Runtime;

namespace Batchyard.Silo.Hosting;

/// <summary>
/// Resumes the active runs as soon as a silo is declared dead, instead of at their next wake reminder (up to
/// <c>Batchyard:WakePeriod</c> later): it ticks each running run's wake reminder by hand, which re-activates
/// its task grains on a survivor, where they re-attach to their jobs (or find them lost and retry). The same
/// happens when a silo starts as the only one (the whole cluster was down). One silo does it: the oldest active
/// one. The reminders stay the guarantee; this only shortens the wait.
/// </summary>
internal sealed partial class FailoverResumer(
    IClusterMembershipService membership,
    ILocalSiloDetails self,
    NpgsqlDataSource dataSource,
    IGrainFactory grains,
    TimeProvider time,
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
            var runs = new List<(string DagId, string RunId)>();
            await using (var command = dataSource.CreateCommand("SELECT dag_id, run_id FROM batchyard_runs WHERE state = 'running'"))
            await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
            {
                while (await reader.ReadAsync(cancellationToken))
                {
                    runs.Add((reader.GetString(0), reader.GetString(1)));
                }
            }

            var now = time.GetUtcNow().UtcDateTime;
            var failed = 0;
            await Parallel.ForEachAsync(runs, new ParallelOptions { MaxDegreeOfParallelism = Parallelism, CancellationToken = cancellationToken }, async (run, _) =>
            {
                try
                {
                    var remindable = grains.GetGrain<IDagRunGrain>(RunKeys.Run(run.DagId, run.RunId)).AsReference<IRemindable>();
                    await remindable.ReceiveReminder(DagRunGrain.WakeReminder, new TickStatus(now, TimeSpan.Zero, now));
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    // Its own reminder will try again; one bad run must not hold back the others.
                    Interlocked.Increment(ref failed);
                    LogRunNotResumed(run.DagId, run.RunId, ex.Message);
                }
            });
            LogResumed(reason, runs.Count - failed, watch.ElapsedMilliseconds);
        }
        catch (NpgsqlException ex)
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
