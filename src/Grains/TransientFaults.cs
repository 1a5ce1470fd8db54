using System.Data.Common;
using Orleans.Runtime;
using Orleans.Runtime.Messaging;

namespace Batchyard;

/// <summary>
/// The one answer to "is this failure worth trying again in a moment?": what a call meets while a silo is being
/// declared dead (its grains cannot be reached until they are re-activated on a survivor) or while PostgreSQL
/// briefly refuses. The HTTP API answers these with 503 and <c>Retry-After</c>, gRPC with <c>UNAVAILABLE</c>.
/// </summary>
public static class TransientFaults
{
    /// <summary>
    /// When to try again. A killed silo is declared dead in about 5 s (docs/clustering.md), so a client that
    /// comes back every 2 s sees the survivor take over within a few tries without hammering it.
    /// </summary>
    public static readonly TimeSpan RetryAfter = TimeSpan.FromSeconds(2);

    /// <summary>True when <paramref name="exception"/>, or an exception it wraps, is transient.</summary>
    public static bool IsTransient(Exception? exception) => Cause(exception) is not null;

    /// <summary>The transient exception in <paramref name="exception"/>'s chain (itself or what it wraps), or null.</summary>
    public static Exception? Cause(Exception? exception)
    {
        // Orleans and Npgsql wrap the cause (an OrleansException around a ConnectionFailedException, an
        // NpgsqlException around a TimeoutException): every link of the chain is looked at, not only the outer one.
        for (var depth = 0; exception is not null && depth < 16; depth++)
        {
            if (IsTransientItself(exception))
            {
                return exception;
            }
            if (exception is AggregateException aggregate && aggregate.InnerExceptions.Count > 1)
            {
                return aggregate.InnerExceptions.Select(Cause).FirstOrDefault(e => e is not null);
            }
            exception = exception.InnerException;
        }
        return null;
    }

    private static bool IsTransientItself(Exception exception) => exception switch
    {
        // The target silo is dead or unreachable; SiloUnavailableException is one of these.
        OrleansMessageRejectionException => true,
        ConnectionFailedException => true,
        Orleans.Networking.Shared.SocketConnectionException => true,
        GatewayTooBusyException => true,
        // A grain call that got no answer within Orleans' response timeout, a pool that had no connection in time.
        TimeoutException => true,
        // Npgsql says which of its errors are transient (broken connections, server shutting down, pool timeout).
        DbException { IsTransient: true } => true,
        _ => false,
    };
}
