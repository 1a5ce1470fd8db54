using Npgsql;
using Orleans.Runtime;
using Orleans.Runtime.Messaging;

namespace Batchyard.Tests;

/// <summary>Which failures <see cref="TransientFaults"/> calls transient: the ones a failover or a database blip cause, and no others.</summary>
public sealed class TransientFaultsTests
{
    public static TheoryData<string, Exception> Transient => new()
    {
        { "silo unavailable", new SiloUnavailableException("silo S127.0.0.1:11112 is unavailable") },
        { "connection failed inside an OrleansException", new OrleansException("Exception while sending message", new ConnectionFailedException("Unable to connect")) },
        { "grain call timed out", new TimeoutException("Response did not arrive on time in 00:00:30") },
        { "npgsql pool timeout", new NpgsqlException("The connection pool has been exhausted", new TimeoutException()) },
        { "npgsql broken connection", new NpgsqlException("Exception while reading from stream", new IOException("connection reset")) },
        { "postgres shutting down", new PostgresException("terminating connection due to administrator command", "FATAL", "FATAL", "57P01") },
        { "one of several inside an AggregateException", new AggregateException(new InvalidOperationException("other"), new SiloUnavailableException("gone")) },
    };

    public static TheoryData<string, Exception> NotTransient => new()
    {
        { "a bug", new InvalidOperationException("sequence contains no elements") },
        { "an OrleansException of its own", new OrleansException("grain threw") },
        { "a refused SQL statement", new PostgresException("relation does not exist", "ERROR", "ERROR", "42P01") },
        { "a cancelled request", new OperationCanceledException() },
    };

    [Theory]
    [MemberData(nameof(Transient))]
    public void IsTransient_FailoverAndDatabaseBlips_AreTransient(string what, Exception exception) =>
        Assert.True(TransientFaults.IsTransient(exception), what);

    [Theory]
    [MemberData(nameof(NotTransient))]
    public void IsTransient_OtherFailures_AreNot(string what, Exception exception) =>
        Assert.False(TransientFaults.IsTransient(exception), what);

    [Fact]
    public void Cause_OfAWrappedFault_IsTheInnerException()
    {
        var inner = new ConnectionFailedException("Unable to connect");

        Assert.Same(inner, TransientFaults.Cause(new OrleansException("Exception while sending message", inner)));
    }
}
