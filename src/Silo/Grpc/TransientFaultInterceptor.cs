using System.Globalization;
using Batchyard.Silo.Api;
using Grpc.Core;
using Grpc.Core.Interceptors;

namespace Batchyard.Silo.Grpc;

/// <summary>
/// A call that fails on a transient fault (<see cref="TransientFaults"/>: a silo being declared dead, the database
/// refusing for a moment) ends with <c>UNAVAILABLE</c>, the code gRPC clients retry, instead of <c>UNKNOWN</c>.
/// The trailers say when to come back: <c>retry-after</c> in seconds as the HTTP API does, and
/// <c>grpc-retry-pushback-ms</c>, which gRPC clients with a retry policy honour on their own.
/// </summary>
internal sealed partial class TransientFaultInterceptor(ILogger<TransientFaultInterceptor> logger) : Interceptor
{
    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(
        TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            return await continuation(request, context);
        }
        catch (Exception ex) when (TransientFaults.Cause(ex) is { } cause)
        {
            throw Unavailable(context, cause);
        }
    }

    public override async Task ServerStreamingServerHandler<TRequest, TResponse>(
        TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            await continuation(request, responseStream, context);
        }
        catch (Exception ex) when (TransientFaults.Cause(ex) is { } cause)
        {
            throw Unavailable(context, cause);
        }
    }

    public override async Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(
        IAsyncStreamReader<TRequest> requestStream, ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            return await continuation(requestStream, context);
        }
        catch (Exception ex) when (TransientFaults.Cause(ex) is { } cause)
        {
            throw Unavailable(context, cause);
        }
    }

    public override async Task DuplexStreamingServerHandler<TRequest, TResponse>(
        IAsyncStreamReader<TRequest> requestStream, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, DuplexStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            await continuation(requestStream, responseStream, context);
        }
        catch (Exception ex) when (TransientFaults.Cause(ex) is { } cause)
        {
            throw Unavailable(context, cause);
        }
    }

    private RpcException Unavailable(ServerCallContext context, Exception cause)
    {
        LogUnavailable(context.Method, cause.GetType().Name, cause.Message);
        var retryAfter = TransientFaults.RetryAfter;
        var trailers = new Metadata
        {
            { "retry-after", WithRetryAfter.Seconds(retryAfter) },
            { "grpc-retry-pushback-ms", ((long)retryAfter.TotalMilliseconds).ToString(CultureInfo.InvariantCulture) },
        };
        return new RpcException(new Status(StatusCode.Unavailable, $"the cluster cannot answer this call right now ({cause.GetType().Name}); try again shortly"), trailers);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Method} answered UNAVAILABLE: {Cause}: {Reason}")]
    private partial void LogUnavailable(string method, string cause, string reason);
}
