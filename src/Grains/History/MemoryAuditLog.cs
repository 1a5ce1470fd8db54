using System.Collections.Immutable;

namespace Batchyard.History;

/// <summary>The audit log of the embedded mode: the newest <see cref="Capacity"/> entries, in this process only.</summary>
public sealed class MemoryAuditLog(int capacity = MemoryAuditLog.DefaultCapacity) : IAuditLog
{
    public const int DefaultCapacity = 10_000;

    private readonly Lock _lock = new();
    private readonly LinkedList<AuditEntry> _entries = new();
    private long _nextId = 1;

    public int Capacity { get; } = capacity > 0 ? capacity : throw new ArgumentOutOfRangeException(nameof(capacity));

    /// <inheritdoc />
    public Task AppendAsync(AuditEntry entry, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(entry);
        lock (_lock)
        {
            _entries.AddFirst(entry with { Id = _nextId++ });
            if (_entries.Count > Capacity)
            {
                _entries.RemoveLast();
            }
        }
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task<ImmutableArray<AuditEntry>> ListAsync(int limit, DateTimeOffset? before, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(limit);
        lock (_lock)
        {
            // Newest first is insertion order reversed; entries recorded in the same instant keep it too.
            var page = _entries.Where(e => before is not { } cutoff || e.At < cutoff).Take(limit);
            return Task.FromResult(page.ToImmutableArray());
        }
    }
}
