using Batchyard.History;

namespace Batchyard.Tests.History;

public sealed class MemoryAuditLogTests
{
    [Fact]
    public async Task AppendAsync_PastTheCapacity_KeepsTheNewestEntries_NewestFirst()
    {
        var log = new MemoryAuditLog(capacity: 3);
        var start = new DateTimeOffset(2026, 11, 27, 9, 0, 0, TimeSpan.Zero);
        for (var i = 0; i < 5; i++)
        {
            await log.AppendAsync(new AuditEntry { At = start.AddSeconds(i), KeyName = "ci", Action = AuditActions.Trigger, DagId = $"dag-{i}", Outcome = AuditOutcomes.Ok, Status = 202 });
        }

        var all = await log.ListAsync(10, null);
        var before = await log.ListAsync(10, start.AddSeconds(4));

        Assert.Equal(["dag-4", "dag-3", "dag-2"], all.Select(e => e.DagId));
        Assert.Equal([5L, 4L, 3L], all.Select(e => e.Id));
        Assert.Equal(["dag-3", "dag-2"], before.Select(e => e.DagId));
    }
}
