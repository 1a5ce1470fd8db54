using System.Collections.Concurrent;
using System.Globalization;
using Batchyard.Backends;
using Batchyard.Dags;
using Batchyard.Grains;
using Batchyard.History;
using Batchyard.Runs;
using Batchyard.Scheduling;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Orleans.Configuration;
using Orleans.Serialization;
using Orleans.Storage;
using Orleans.TestingHost;

namespace Batchyard.Tests.Dags;

/// <summary>
/// Cron at the size of a company's batch estate, on a fake clock: 10,000 every-minute DAGs fire each slot
/// once, and after the silo is stopped for two slots and started again (grain state, reminders and the
/// journal outlive it, as PostgreSQL does), each DAG's missed slots follow its catchup rule, still once each.
/// </summary>
public sealed class ScheduleAtScaleTests : IAsyncLifetime
{
    private static readonly int Dags = int.TryParse(Environment.GetEnvironmentVariable("BATCHYARD_SCALE_DAGS"), out var n) ? n : 10_000;
    private static readonly DateTimeOffset T0 = new(2026, 3, 1, 0, 0, 0, TimeSpan.Zero);

    private readonly FakeTimeProvider _time = new(T0.AddSeconds(10));
    private readonly ConcurrentDictionary<string, (byte[] Data, string ETag)> _rows = new(StringComparer.Ordinal);
    private readonly SharedReminderTable _reminders = new();
    private readonly MemoryRunJournal _journal = new();
    private readonly ScriptedBackend _backend;
    private readonly string _logs = Path.Combine(Path.GetTempPath(), "batchyard-scale-" + Guid.NewGuid().ToString("N"));
    private InProcessTestCluster? _cluster;

    public ScheduleAtScaleTests() => _backend = new ScriptedBackend(_time);

    public System.Threading.Tasks.Task InitializeAsync() => System.Threading.Tasks.Task.CompletedTask;

    public async System.Threading.Tasks.Task DisposeAsync()
    {
        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
        }
        if (Directory.Exists(_logs))
        {
            Directory.Delete(_logs, recursive: true);
        }
    }

    private async System.Threading.Tasks.Task<IGrainFactory> StartSiloAsync()
    {
        var builder = new InProcessTestClusterBuilder(1);
        builder.ConfigureSilo((_, silo) =>
        {
            silo.Services.AddKeyedSingleton<IGrainStorage>(StorageNames.Batchyard, (sp, _) => new SharedGrainStorage(_rows, sp.GetRequiredService<Serializer>()));
            silo.AddReminders();
            silo.Services.AddSingleton<IReminderTable>(_reminders);
            silo.Configure<ReminderOptions>(o => o.MinimumReminderPeriod = TimeSpan.FromSeconds(1));
            silo.Services.AddSingleton(Options.Create(new WakeOptions { WakePeriod = TimeSpan.FromSeconds(1) }));
            silo.Services.AddKeyedSingleton<TimeProvider>(BatchyardClock.Key, _time);
            silo.Services.AddSingleton<IJobBackend>(_backend);
            silo.Services.AddBatchyardGrains(_logs);
            silo.Services.AddSingleton(_journal);
            silo.Services.AddSingleton<IRunJournal>(_journal);
            silo.Services.AddSingleton<IRunHistoryStore>(_journal);
        });
        _cluster = builder.Build();
        await _cluster.DeployAsync();
        return _cluster.Client;
    }

    [Fact]
    public async System.Threading.Tasks.Task TenThousandEveryMinuteDags_FireEachSlotOnce_AndCatchUpByTheirRuleAfterARestart()
    {
        Seen = () => $" (jobs submitted: {_backend.Submitted.Count})";
        var grains = await StartSiloAsync();
        var ids = Enumerable.Range(0, Dags).Select(i => $"m{i:00000}").ToList();
        // Even DAGs catch up on every missed slot; odd ones run only the newest.
        bool Catchup(string id) => int.Parse(id[1..], CultureInfo.InvariantCulture) % 2 == 0;
        foreach (var batch in ids.Chunk(500))
        {
            await System.Threading.Tasks.Task.WhenAll(batch.Select(id => grains.GetGrain<IDagGrain>(id).ApplyAsync(
                TestDags.Dag(id, TestDags.Task("t")) with { Schedule = "* * * * *", Catchup = Catchup(id) })));
        }
        await WaitAsync(async () => await FollowedAsync(grains) == Dags, "every DAG followed by its shard");

        // A slot with the silo up: 00:01, each DAG once.
        _time.Advance(TimeSpan.FromMinutes(1));
        await WaitAsync(() => System.Threading.Tasks.Task.FromResult(_backend.Submitted.Count == Dags), $"{Dags} runs of 00:01");

        // The silo goes away for two slots (00:02, 00:03), then a new one starts on the same storage: the
        // shards come back from their reminders and fire what was missed, by each DAG's catchup rule.
        await _cluster!.StopAllSilosAsync();
        await _cluster.DisposeAsync();
        _cluster = null;
        _time.Advance(TimeSpan.FromMinutes(2));
        grains = await StartSiloAsync();
        var expected = Dags + (Dags / 2 * 2) + (Dags / 2);
        await WaitAsync(() => System.Threading.Tasks.Task.FromResult(_backend.Submitted.Count >= expected), $"{expected} runs after the restart", TimeSpan.FromMinutes(3));

        // And the next slot once more, after which nothing else comes.
        _time.Advance(TimeSpan.FromMinutes(1));
        await WaitAsync(() => System.Threading.Tasks.Task.FromResult(_backend.Submitted.Count >= expected + Dags), "the runs of 00:04");
        await System.Threading.Tasks.Task.Delay(TimeSpan.FromSeconds(3));

        var slots = _backend.Submitted
            .Select(job => job.Split("__", StringSplitOptions.None))
            .GroupBy(parts => parts[0], StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.Select(p => p[2]).ToList(), StringComparer.Ordinal);
        Assert.Equal(Dags, slots.Count);
        Assert.Equal(expected + Dags, _backend.Submitted.Count);
        string Stamp(int minute) => T0.AddMinutes(minute).ToString("yyyy-MM-ddTHH-mm-ss", CultureInfo.InvariantCulture);
        foreach (var id in new[] { ids[0], ids[1], ids[Dags / 3], ids[^1] })
        {
            int[] minutes = Catchup(id) ? [1, 2, 3, 4] : [1, 3, 4];
            Assert.Equal(minutes.Select(m => Stamp(m)).ToList(), slots[id].Select(Slot).Order(StringComparer.Ordinal).ToList());
        }
        // Once each, everywhere: no DAG has a slot twice.
        Assert.All(slots, pair => Assert.Equal(pair.Value.Count, pair.Value.Distinct(StringComparer.Ordinal).Count()));
        Assert.Equal(Dags / 2 * 4 + Dags / 2 * 3, slots.Values.Sum(v => v.Count));
    }

    /// <summary>The run part of a job name, <c>scheduled__2026-03-01T00-01-00Z</c>, as its slot.</summary>
    private static string Slot(string runPart) => runPart.Replace("scheduled", "", StringComparison.Ordinal).TrimStart('_')[..19];

    private static async System.Threading.Tasks.Task<int> FollowedAsync(IGrainFactory grains)
    {
        var counts = await System.Threading.Tasks.Task.WhenAll(Enumerable.Range(0, new Batchyard.Scheduling.SchedulingOptions().Shards).Select(s => grains.GetGrain<IScheduleShardGrain>(s).CountAsync()));
        return counts.Sum();
    }

    private static Func<string>? Seen;

    private static async System.Threading.Tasks.Task WaitAsync(Func<System.Threading.Tasks.Task<bool>> condition, string what, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromMinutes(2));

        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"not reached in time: {what}{Seen?.Invoke()}");
            }
            await System.Threading.Tasks.Task.Delay(50);
        }
    }

    /// <summary>Grain state kept beside the silos (serialized, with etags), so that it outlives them.</summary>
    private sealed class SharedGrainStorage(ConcurrentDictionary<string, (byte[] Data, string ETag)> rows, Serializer serializer) : IGrainStorage
    {
        public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
        {
            if (rows.TryGetValue(Key(stateName, grainId), out var row))
            {
                grainState.State = serializer.Deserialize<T>(row.Data);
                grainState.ETag = row.ETag;
                grainState.RecordExists = true;
            }
            return System.Threading.Tasks.Task.CompletedTask;
        }

        public Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
        {
            var key = Key(stateName, grainId);
            var etag = Guid.NewGuid().ToString("N");
            var data = serializer.SerializeToArray(grainState.State);
            lock (rows)
            {
                var current = rows.TryGetValue(key, out var row) ? row.ETag : null;
                if (current != grainState.ETag)
                {
                    throw new InconsistentStateException($"etag {grainState.ETag} is not the stored {current}", current, grainState.ETag);
                }
                rows[key] = (data, etag);
            }
            grainState.ETag = etag;
            grainState.RecordExists = true;
            return System.Threading.Tasks.Task.CompletedTask;
        }

        public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
        {
            rows.TryRemove(Key(stateName, grainId), out _);
            grainState.ETag = null;
            grainState.RecordExists = false;
            return System.Threading.Tasks.Task.CompletedTask;
        }

        private static string Key(string stateName, GrainId grainId) => stateName + "|" + grainId;
    }

    /// <summary>Reminders kept beside the silos, as the ADO.NET reminder table keeps them.</summary>
    private sealed class SharedReminderTable : IReminderTable
    {
        private readonly ConcurrentDictionary<(GrainId, string), ReminderEntry> _entries = new();

        public Task Init() => System.Threading.Tasks.Task.CompletedTask;

        public Task<ReminderTableData> ReadRows(GrainId grainId) =>
            System.Threading.Tasks.Task.FromResult(new ReminderTableData(_entries.Values.Where(e => e.GrainId == grainId).Select(Copy)));

        public Task<ReminderTableData> ReadRows(uint begin, uint end) =>
            System.Threading.Tasks.Task.FromResult(new ReminderTableData(_entries.Values.Where(e => InRange(e.GrainId.GetUniformHashCode(), begin, end)).Select(Copy)));

        public Task<ReminderEntry?> ReadRow(GrainId grainId, string reminderName) =>
            System.Threading.Tasks.Task.FromResult<ReminderEntry?>(_entries.TryGetValue((grainId, reminderName), out var entry) ? Copy(entry) : null);

        public Task<string?> UpsertRow(ReminderEntry entry)
        {
            var stored = Copy(entry);
            stored.ETag = Guid.NewGuid().ToString("N");
            _entries[(entry.GrainId, entry.ReminderName)] = stored;
            return System.Threading.Tasks.Task.FromResult<string?>(stored.ETag);
        }

        public Task<bool> RemoveRow(GrainId grainId, string reminderName, string eTag)
        {
            var key = (grainId, reminderName);
            return System.Threading.Tasks.Task.FromResult(_entries.TryGetValue(key, out var entry) && entry.ETag == eTag && _entries.TryRemove(key, out _));
        }

        public Task TestOnlyClearTable()
        {
            _entries.Clear();
            return System.Threading.Tasks.Task.CompletedTask;
        }

        // The ring range (begin, end], wrapping past the top as the reminder service's ranges do.
        private static bool InRange(uint hash, uint begin, uint end) =>
            begin < end ? hash > begin && hash <= end : hash > begin || hash <= end;

        private static ReminderEntry Copy(ReminderEntry e) => new()
        {
            GrainId = e.GrainId,
            ReminderName = e.ReminderName,
            StartAt = e.StartAt,
            Period = e.Period,
            ETag = e.ETag,
        };
    }
}
