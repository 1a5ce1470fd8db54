using Npgsql;

namespace Batchyard.Silo.Storage.Postgres;

/// <summary>
/// The <c>Batchyard:Postgres</c> section: one bounded connection pool per process, shared by Orleans'
/// providers (membership, reminders, grain state), the journal writers, history reads and logs.
/// </summary>
public sealed record PostgresConnections
{
    /// <summary>Connections this process opens at most; callers beyond it wait for one (a SCRAM login costs CPU, so a storm of them is avoided).</summary>
    public int MaxConnections { get; init; } = 20;

    /// <summary>How long a caller waits for a free connection (or to open one) before that call fails and is retried by its owner.</summary>
    public TimeSpan WaitTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>The data source for <paramref name="connectionString"/>, bounded by these settings.</summary>
    public NpgsqlDataSource CreateDataSource(string connectionString)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString)
        {
            MaxPoolSize = MaxConnections,
            Timeout = (int)Math.Ceiling(WaitTimeout.TotalSeconds),
            // No DISCARD ALL each time a pooled connection is taken again: nothing here leaves session state
            // behind (the migrations' advisory lock is released explicitly), and the reset was one statement in
            // two that the server ran for a burst of runs.
            NoResetOnClose = true,
            // Statements run again and again (Orleans' state, reminder and membership queries, the journal's
            // batches) are prepared on each connection after their second use: the server parsed and planned
            // each one anew, a good part of its CPU while 10,000 DAG files load.
            MaxAutoPrepare = 64,
            AutoPrepareMinUsages = 2,
        };
        return NpgsqlDataSource.Create(builder.ConnectionString);
    }
}
