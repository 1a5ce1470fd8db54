using System.Collections.Immutable;
using System.Globalization;
using System.Text.Json;
using Batchyard.Access;
using Batchyard.Datasets;
using Batchyard.Grains;
using Batchyard.History;

namespace Batchyard.Silo.Api;

/// <summary>A dataset as the list shows it.</summary>
public sealed record DatasetListItem(string Name, ImmutableArray<DatasetProducer> Producers, ImmutableArray<string> Consumers, DatasetUpdate? LastUpdate, string? Warning)
{
    public static DatasetListItem From(DatasetInfo info)
    {
        ArgumentNullException.ThrowIfNull(info);
        return new(info.Name, info.Producers, info.Consumers, info.LastUpdate, info.Warning);
    }
}

/// <summary>One dataset with a page of its updates, newest first (<see cref="NextCursor"/>: the next page's cursor).</summary>
public sealed record DatasetView(string Name, ImmutableArray<DatasetProducer> Producers, ImmutableArray<string> Consumers, DatasetUpdate? LastUpdate, string? Warning, ImmutableArray<DatasetUpdate> Updates, string? NextCursor);

/// <summary>
/// Datasets, shared by HTTP (<c>/api/v1/datasets</c>) and gRPC: the list with producers, consumers and last
/// updates, one dataset's updates, and updates posted from outside (audited like a trigger, since they start runs).
/// </summary>
public sealed class DatasetOperations(IGrainFactory grains, ReadRetry retry, AuditTrail audit)
{
    /// <summary>Updates in one page of a dataset unless asked otherwise.</summary>
    public const int DefaultUpdatePage = 25;

    /// <summary>The largest <c>extra</c> object an external event may carry.</summary>
    public const int MaxExtraChars = 16 * 1024;

    /// <summary>Every dataset by name (or a page of <paramref name="limit"/> after <paramref name="cursor"/>).</summary>
    public async Task<Outcome<Page<DatasetListItem>>> ListAsync(int? limit, string? cursor, CancellationToken cancellationToken = default)
    {
        if (Cursors.CheckLimit(limit) is { } badLimit)
        {
            return badLimit;
        }
        string? after = null;
        if (!string.IsNullOrEmpty(cursor) && !Cursors.TryReadDataset(cursor, out after))
        {
            return Cursors.InvalidCursor();
        }
        var names = await retry.RunAsync(() => grains.GetGrain<IDatasetRegistryGrain>(0).ListAsync(), cancellationToken);
        var rest = names.Where(n => after is null || string.CompareOrdinal(n, after) > 0).ToList();
        var size = limit is null && after is null ? rest.Count : limit ?? ApiOperations.DefaultDagPage;
        var page = rest.Take(size).ToList();
        var infos = await retry.RunAsync(() => Task.WhenAll(page.Select(name => grains.GetGrain<IDatasetGrain>(name).GetAsync())), cancellationToken);
        return new Page<DatasetListItem>([.. infos.OfType<DatasetInfo>().Select(DatasetListItem.From)], rest.Count > page.Count ? Cursors.AfterDataset(page[^1]) : null, names.Length);
    }

    /// <summary>One dataset with <paramref name="limit"/> (25 by default) of its updates older than <paramref name="cursor"/>.</summary>
    public async Task<Outcome<DatasetView>> GetAsync(string name, int? limit, string? cursor, CancellationToken cancellationToken = default)
    {
        if (Cursors.CheckLimit(limit) is { } badLimit)
        {
            return badLimit;
        }
        long? before = null;
        if (!string.IsNullOrEmpty(cursor))
        {
            if (!Cursors.TryReadUpdate(cursor, out var seq))
            {
                return Cursors.InvalidCursor();
            }
            before = seq;
        }
        if (!DatasetNames.IsValid(name) || await retry.RunAsync(() => grains.GetGrain<IDatasetGrain>(name).GetAsync(), cancellationToken) is not { } info)
        {
            return Failure.NotFound($"dataset '{name}' does not exist");
        }
        var older = info.RecentUpdates.Where(u => before is null || u.Seq < before).ToList();
        var page = older.Take(limit ?? DefaultUpdatePage).ToImmutableArray();
        var next = older.Count > page.Length ? Cursors.AfterUpdate(page[^1].Seq) : null;
        return new DatasetView(info.Name, info.Producers, info.Consumers, info.LastUpdate, info.Warning, page, next);
    }

    /// <summary>Records an update from outside Batchyard (<paramref name="extraJson"/>: a JSON object or null); needs a role that may trigger runs.</summary>
    public async Task<Outcome<DatasetUpdate>> EmitAsync(Caller caller, string name, string? extraJson)
    {
        ArgumentNullException.ThrowIfNull(caller);
        var target = "dataset:" + name;
        Outcome<DatasetUpdate> outcome;
        if (!caller.Allows(Permission.Operate))
        {
            outcome = Failure.Forbidden($"the key '{caller.Name}' ({caller.Role.Name()}) may not do this; it needs the role {Permission.Operate.LeastRole().Name()}");
        }
        else if (!DatasetNames.IsValid(name))
        {
            outcome = Failure.BadRequest("Invalid dataset name", $"'{name}' is not a dataset name (lower-case letters, digits, '.', '_' and '-', starting with a letter or digit, at most 100)");
        }
        else if (CheckExtra(extraJson) is { } bad)
        {
            outcome = bad;
        }
        else
        {
            try
            {
                outcome = await grains.GetGrain<IDatasetGrain>(name).RecordAsync(new DatasetUpdateRequest
                {
                    // Each post is an update of its own: an outside producer that posts twice updated twice.
                    Key = "external/" + Guid.NewGuid().ToString("N"),
                    Source = new DatasetSource { Extra = extraJson, PostedBy = caller.Name },
                });
            }
            catch (Exception ex)
            {
                var status = TransientFaults.Cause(ex) is not null ? StatusCodes.Status503ServiceUnavailable : StatusCodes.Status500InternalServerError;
                await audit.RecordAsync(caller, AuditActions.DatasetEvent, target, null, null, AuditOutcomes.Error, status, ex.GetType().Name);
                throw;
            }
        }
        var (result, code) = outcome.Failure is { } failure
            ? (failure.Denied ? AuditOutcomes.Denied : AuditOutcomes.Error, failure.Status)
            : (AuditOutcomes.Ok, StatusCodes.Status201Created);
        await audit.RecordAsync(caller, AuditActions.DatasetEvent, target, outcome.Value?.Seq.ToString(CultureInfo.InvariantCulture), null, result, code, outcome.Failure?.Detail);
        return outcome;
    }

    private static Failure? CheckExtra(string? extraJson)
    {
        if (extraJson is null)
        {
            return null;
        }
        if (extraJson.Length > MaxExtraChars)
        {
            return Failure.TooLarge($"'extra' may be at most {MaxExtraChars} characters of JSON");
        }
        try
        {
            using var document = JsonDocument.Parse(extraJson);
            return document.RootElement.ValueKind == JsonValueKind.Object ? null : Failure.BadRequest("Invalid event", "'extra' must be a JSON object");
        }
        catch (JsonException ex)
        {
            return Failure.BadRequest("Invalid event", "'extra' is not JSON: " + ex.Message);
        }
    }
}
