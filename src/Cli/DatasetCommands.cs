using System.CommandLine;
using System.Globalization;
using System.Text.Json;

namespace Batchyard.Cli;

/// <summary><c>batchyard datasets list|show NAME|event NAME</c>.</summary>
internal static class DatasetCommands
{
    public static Command Build(ActionFactory act)
    {
        var datasets = new Command("datasets", "List and show datasets; mark one updated from outside");
        var name = new Argument<string>("NAME") { Description = "The dataset's name" };

        var limit = new Option<int?>("--limit") { Description = "At most this many datasets (all by default)" };
        var pageSize = DagCommands.PageSizeOption();
        var list = new Command("list", "Datasets by name: producers, consumers, last update (every page)") { limit, pageSize };
        list.SetAction(act(async (c, p, ct) =>
        {
            var items = await c.Api.GetAllAsync("api/v1/datasets", p.GetValue(pageSize), p.GetValue(limit), ct);
            if (c.Json)
            {
                c.WriteJson(items);
                return ExitCodes.Ok;
            }
            var table = new TextTable("DATASET", "PRODUCERS", "CONSUMERS", "LAST UPDATE", "BY", "WARNING");
            foreach (var d in items)
            {
                d.TryGetProperty("lastUpdate", out var last);
                table.Add(d.Str("name"), Producers(d), Join(d.Items("consumers").Select(e => e.GetString())),
                    last.ValueKind == JsonValueKind.Object ? $"#{last.Str("seq")} {CliApp.Time(last.Str("at"))}" : "-",
                    last.ValueKind == JsonValueKind.Object ? Source(last) : "-", d.Str("warning") ?? "");
            }
            table.WriteTo(c.Out);
            return ExitCodes.Ok;
        }));
        datasets.Add(list);

        var updates = new Option<int>("--limit") { Description = "At most this many updates, newest first (default 25)", DefaultValueFactory = _ => 25 };
        var show = new Command("show", "The dataset, its producers and consumers, and its updates, newest first") { name, updates };
        show.SetAction(act(async (c, p, ct) =>
        {
            var path = $"api/v1/datasets/{ApiClient.Segment(p.GetValue(name)!)}";
            var max = Math.Max(1, p.GetValue(updates));
            var dataset = await c.Api.GetAsync($"{path}?limit={Math.Min(max, 500).ToString(CultureInfo.InvariantCulture)}", ct);
            var seen = dataset.Items("updates").ToList();
            // The updates page in the body (nextCursor), as the server shows one dataset.
            for (var next = dataset.Str("nextCursor"); next is not null && seen.Count < max;)
            {
                var page = await c.Api.GetAsync($"{path}?limit={Math.Min(max - seen.Count, 500).ToString(CultureInfo.InvariantCulture)}&cursor={Uri.EscapeDataString(next)}", ct);
                seen.AddRange(page.Items("updates"));
                next = page.Str("nextCursor");
            }
            if (c.Json)
            {
                c.WriteJson(new
                {
                    name = dataset.Str("name"),
                    producers = dataset.GetProperty("producers"),
                    consumers = dataset.GetProperty("consumers"),
                    warning = dataset.Str("warning"),
                    updates = seen,
                });
                return ExitCodes.Ok;
            }
            var facts = new TextTable("DATASET", dataset.Str("name") ?? "");
            facts.Add("producers", Producers(dataset));
            facts.Add("consumers", Join(dataset.Items("consumers").Select(e => e.GetString())));
            if (dataset.Str("warning") is { } warning)
            {
                facts.Add("warning", warning);
            }
            facts.WriteTo(c.Out);
            await c.Out.WriteLineAsync();
            var table = new TextTable("SEQ", "AT", "BY", "EXTRA");
            foreach (var update in seen)
            {
                update.TryGetProperty("source", out var source);
                table.Add(update.Str("seq"), CliApp.Time(update.Str("at")), Source(update), source.Str("extra") ?? "");
            }
            table.WriteTo(c.Out);
            return ExitCodes.Ok;
        }));
        datasets.Add(show);

        var extra = new Option<string?>("--extra") { Description = "A JSON object the update carries (its consumers' runs see it)" };
        var emit = new Command("event", "Mark the dataset updated from outside Batchyard: starts the DAGs waiting on it") { name, extra };
        emit.SetAction(act(async (c, p, ct) =>
        {
            var dataset = p.GetValue(name)!;
            object? body = null;
            if (p.GetValue(extra) is { } text)
            {
                try
                {
                    using var document = JsonDocument.Parse(text);
                    if (document.RootElement.ValueKind != JsonValueKind.Object)
                    {
                        throw new JsonException("not an object");
                    }
                    body = new { extra = document.RootElement.Clone() };
                }
                catch (JsonException)
                {
                    await c.Error.WriteLineAsync($"error: --extra must be a JSON object such as '{{\"file\": \"s3://bucket/a.csv\"}}'");
                    return ExitCodes.Failed;
                }
            }
            var update = await c.Api.PostAsync($"api/v1/datasets/{ApiClient.Segment(dataset)}/events", body, ct);
            return await c.DoneAsync(update, $"dataset {dataset} updated (#{update.Str("seq")})");
        }));
        datasets.Add(emit);
        return datasets;
    }

    private static string Producers(JsonElement dataset) =>
        Join(dataset.Items("producers").Select(p => $"{p.Str("dagId")}.{p.Str("taskId")}"));

    /// <summary>Who made an update: the producing run and task, or the key that posted it.</summary>
    private static string Source(JsonElement update)
    {
        update.TryGetProperty("source", out var source);
        return source.Str("dagId") is { } dag
            ? $"{dag} run {source.Str("runId")} task {source.Str("taskId")}"
            : $"event by {source.Str("postedBy") ?? "-"}";
    }

    private static string Join(IEnumerable<string?> values) => string.Join(", ", values.OfType<string>()) is { Length: > 0 } text ? text : "-";
}
