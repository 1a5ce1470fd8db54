using System.Collections.Concurrent;
using System.Collections.Immutable;
using Batchyard.History;
using Batchyard.Runs;
using Microsoft.Extensions.DependencyInjection;

namespace Batchyard.Tests;

/// <summary>
/// Faults a test arms in a running host, as a failover would cause them: the next calls of a method whose target
/// names a marker (a grain call whose grain id contains it, a history read of that DAG) throw the given exception.
/// Tests use their own DAG id as the marker, so they never disturb each other.
/// </summary>
public sealed class Faults
{
    private readonly ConcurrentDictionary<(string Marker, string Method), Plan> _plans = new();

    /// <summary>
    /// Makes the next <paramref name="times"/> calls of <paramref name="method"/> on <paramref name="marker"/> throw,
    /// each after <paramref name="after"/> (a call held until a dead silo is declared dead fails late), until the
    /// returned handle is disposed: the host is shared, and a DAG left armed would break every later list of DAGs.
    /// </summary>
    public IDisposable Arm(string marker, string method, Func<Exception> fault, int times = int.MaxValue, TimeSpan after = default)
    {
        var key = (marker, method);
        _plans[key] = new Plan(fault, times, after);
        return new Disarm(() => _plans.TryRemove(key, out _));
    }

    /// <summary>How many calls of <paramref name="method"/> on <paramref name="marker"/> were made to fail.</summary>
    public int Thrown(string marker, string method) => _plans.TryGetValue((marker, method), out var plan) ? plan.Thrown : 0;

    /// <summary>Registers the faults, the grain call filter that throws them and the history store that does.</summary>
    public static void Register(IServiceCollection services, Faults faults)
    {
        services.AddSingleton(faults);
        services.AddSingleton<IOutgoingGrainCallFilter>(new GrainFilter(faults));
        services.AddSingleton<MemoryRunJournal>();
        services.AddSingleton<IRunJournal>(sp => sp.GetRequiredService<MemoryRunJournal>());
        services.AddSingleton<IRunHistoryStore>(sp => new FaultyHistory(sp.GetRequiredService<MemoryRunJournal>(), faults));
    }

    private async Task ThrowIfArmedAsync(string target, string method)
    {
        foreach (var ((marker, armed), plan) in _plans)
        {
            if (armed == method && target.Contains(marker, StringComparison.Ordinal) && plan.TryTake() is { } fault)
            {
                if (plan.After > TimeSpan.Zero)
                {
                    await Task.Delay(plan.After);
                }
                throw fault;
            }
        }
    }

    private sealed class Disarm(Action disarm) : IDisposable
    {
        public void Dispose() => disarm();
    }

    private sealed class Plan(Func<Exception> fault, int times, TimeSpan after)
    {
        private int _thrown;

        public TimeSpan After => after;

        public int Thrown => Volatile.Read(ref _thrown);

        public Exception? TryTake() => Interlocked.Increment(ref _thrown) <= times ? fault() : Undo();

        private Exception? Undo()
        {
            Interlocked.Decrement(ref _thrown);
            return null;
        }
    }

    /// <summary>Every grain call made in the host (the API's calls included) passes here first.</summary>
    private sealed class GrainFilter(Faults faults) : IOutgoingGrainCallFilter
    {
        public async Task Invoke(IOutgoingGrainCallContext context)
        {
            await faults.ThrowIfArmedAsync(context.TargetId.ToString(), context.MethodName);
            await context.Invoke();
        }
    }

    /// <summary>The in-memory history, whose reads of an armed DAG fail.</summary>
    private sealed class FaultyHistory(IRunHistoryStore inner, Faults faults) : IRunHistoryStore
    {
        public Task<ImmutableArray<RunSummary>> ListRunningAsync(CancellationToken cancellationToken = default) => inner.ListRunningAsync(cancellationToken);

        public Task<ImmutableArray<CostCell>> SumCostsAsync(DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken = default) => inner.SumCostsAsync(from, to, cancellationToken);

        public Task<decimal> SumDagCostAsync(string dagId, DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken = default) => inner.SumDagCostAsync(dagId, from, to, cancellationToken);

        public async Task<RunDetails?> GetRunAsync(string dagId, string runId, CancellationToken cancellationToken = default)
        {
            await faults.ThrowIfArmedAsync(dagId, nameof(GetRunAsync));
            return await inner.GetRunAsync(dagId, runId, cancellationToken);
        }

        public async Task<ImmutableArray<RunSummary>> ListRunsAsync(string dagId, RunState? state, DateTimeOffset? before, int limit, RunPosition? after = null, CancellationToken cancellationToken = default)
        {
            await faults.ThrowIfArmedAsync(dagId, nameof(ListRunsAsync));
            return await inner.ListRunsAsync(dagId, state, before, limit, after, cancellationToken);
        }
    }
}
