using System.Net;
using System.Net.Sockets;

namespace Batchyard.Testing;

/// <summary>
/// Loopback ports for test hosts, taken below the kernel's ephemeral range (32768 and up), where port-0
/// listeners get theirs: a port picked here cannot be handed to another host's port-0 listener between
/// the pick and the bind. Each process walks from a random start, so parallel test processes rarely meet.
/// </summary>
internal static class FreePorts
{
    private const int First = 20000;
    private const int Count = 12000;
    private static int _next = Random.Shared.Next(Count);

    public static int Next()
    {
        for (var tries = 0; tries < Count; tries++)
        {
            var port = First + (Interlocked.Increment(ref _next) % Count);
            if (IsFree(port))
            {
                return port;
            }
        }
        throw new InvalidOperationException($"no free loopback port between {First} and {First + Count}");
    }

    private static bool IsFree(int port)
    {
        try
        {
            using var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
