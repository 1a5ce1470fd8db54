using System.Diagnostics;
using Batchyard.Silo.Storage.Postgres;
using Npgsql;

namespace Batchyard.Silo.Hosting;

/// <summary>
/// Applies the PostgreSQL schema as the silo's very first lifecycle step, before membership, reminders and
/// grain storage read their tables. A database that is not up yet (containers starting together) is retried.
/// </summary>
internal sealed partial class SchemaAtStartup(
    NpgsqlDataSource dataSource,
    ClusterSettings settings,
    TimeProvider time,
    ILogger<SchemaAtStartup> logger) : ILifecycleParticipant<ISiloLifecycle>
{
    private static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(2);

    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(SchemaAtStartup), ServiceLifecycleStage.First, ApplyAsync);

    private async Task ApplyAsync(CancellationToken cancellationToken)
    {
        var started = Stopwatch.StartNew();
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await PostgresSchema.ApplyAsync(dataSource, logger, cancellationToken);
                return;
            }
            catch (NpgsqlException ex) when (ex.IsTransient && started.Elapsed + RetryDelay < settings.StartupRetryLimit)
            {
                LogUnreachable(attempt, ex.Message);
                await Task.Delay(RetryDelay, time, cancellationToken);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "PostgreSQL not reachable yet (attempt {Attempt}): {Error}; retrying")]
    private partial void LogUnreachable(int attempt, string error);
}
