using System.Collections.Immutable;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Batchyard.Backends;
using Batchyard.Scheduling;

namespace Batchyard.Dags;

/// <summary>One pass over one DAG file: builds the definition and collects every problem on the way.</summary>
internal sealed partial class DagReader(string fileName, string text, BackendCatalog backends)
{
    private static readonly string[] TopKeys =
    [
        "id", "description", "owner", "tags", "schedule", "timezone", "catchup", "max_active_runs",
        "params", "defaults", "notify", "flow", "tasks", "budget", "on_datasets",
        "deadline",
    ];

    private static readonly string[] TaskKeys =
    [
        "backend", "image", "command", "args", "env", "working_dir", "resources", "retries", "retry_delay",
        "retry_backoff", "max_retry_delay", "timeout", "pool", "trigger_rule", "depends_on", "inputs", "outputs",
        "hyperparameters", "output_path", "map", "when", "output_json", "checkpoint_s3", "produces",
        "deadline",
    ];

    private static readonly string[] MapKeys = ["over", "max_active"];

    private static readonly string[] ResourceKeys = ["instance_type", "instance_count", "volume_gb", "memory_mb", "cpus", "gpus", "spot", "max_wait", "keep_alive"];

    /// <summary>The longest warm pool Batchyard asks for (issue 14: an hour; SageMaker itself allows more).</summary>
    public const int MaxKeepAliveSeconds = 3600;

    private static readonly string[] DeadlineKeys = ["within", "after"];

    private static readonly Dictionary<string, DeadlineAnchor> DeadlineAnchors = new(StringComparer.Ordinal)
    {
        ["logical_date"] = DeadlineAnchor.LogicalDate,
        ["queued"] = DeadlineAnchor.Queued,
    };

    private static readonly string[] BudgetKeys = ["monthly_usd", "pause_on_exceed"];

    private static readonly string[] NotifyKeys = ["on_failure", "on_success", "on_retry", "on_late", "on_budget"];

    private static readonly string[] ChannelKeys = ["name", "s3_uri", "local_path"];

    private static readonly Dictionary<string, TriggerRule> TriggerRules = new(StringComparer.Ordinal)
    {
        ["all_success"] = TriggerRule.AllSuccess,
        ["all_done"] = TriggerRule.AllDone,
        ["all_failed"] = TriggerRule.AllFailed,
        ["one_success"] = TriggerRule.OneSuccess,
        ["one_failed"] = TriggerRule.OneFailed,
        ["none_failed"] = TriggerRule.NoneFailed,
    };

    private readonly List<DagProblem> _problems = [];

    // The same defaults value is read once per task; its problem must be reported once.
    private readonly HashSet<DagProblem> _reported = [];

    [GeneratedRegex("^[a-z0-9][a-z0-9_-]{0,62}$")]
    private static partial Regex DagIdPattern();

    [GeneratedRegex("^[A-Za-z0-9_-]{1,63}$")]
    private static partial Regex TaskIdPattern();

    // A command written as one string splits on whitespace, but a {{ template }} stays one word.
    [GeneratedRegex(@"(?:\{\{.*?\}\}|\S)+")]
    private static partial Regex Word();

    public DagParseResult Read(string? defaultId)
    {
        var loaded = YamlTree.Load(text);
        foreach (var (line, message) in loaded.Problems)
        {
            Report(line, message);
        }
        if (loaded.Error is not null)
        {
            // An error at the end of the text is placed after its last line break; point at the last line instead.
            var lastLine = Math.Max(1, text.TrimEnd('\n', '\r').Count(c => c == '\n') + 1);
            Report(Math.Min(loaded.ErrorLine, lastLine), $"YAML syntax error: {loaded.Error}");
            return Result(null);
        }
        if (loaded.Root is null || loaded.Root is YamlScalar { IsNull: true })
        {
            Report(1, "the file is empty; a DAG file needs at least 'tasks'");
            return Result(null);
        }
        if (loaded.Root is not YamlMapping root)
        {
            Report(loaded.Root.Line, "a DAG file must be a map of keys (id, schedule, tasks, ...)");
            return Result(null);
        }

        var tasksEntry = root.Find("tasks");
        ReportDuplicates(root, tasksEntry?.Value as YamlMapping);
        CheckKeys(root, TopKeys, null);

        var dagId = ReadDagId(root.Find("id"), defaultId);
        var timezone = ReadTimezone(root.Find("timezone"));
        var schedule = ReadSchedule(root.Find("schedule"), timezone);
        var maxActiveRuns = Int(root.Find("max_active_runs"), "max_active_runs") ?? 16;
        if (maxActiveRuns < 1)
        {
            Report(root.Find("max_active_runs")!.Value.Line, $"'max_active_runs' must be at least 1, found {maxActiveRuns}");
        }

        var defaults = ReadDefaults(root.Find("defaults"));
        var tasks = ReadTasks(tasksEntry, defaults);
        var upstream = ReadDependencies(tasks, root.Find("flow"));
        var definitions = tasks
            .Select(t => t.Definition with { Upstream = [.. upstream[t.Definition.TaskId].Order(StringComparer.Ordinal)] })
            .ToImmutableArray();
        FindCycles(tasks, upstream);
        CheckTasks(tasks, defaults, Ancestors(upstream));

        var dag = new DagDefinition
        {
            DagId = dagId ?? "",
            Description = Str(root.Find("description"), "description"),
            Owner = Str(root.Find("owner"), "owner"),
            Tags = Strings(root.Find("tags"), "tags", split: false),
            Schedule = schedule,
            Timezone = timezone ?? "UTC",
            Catchup = Bool(root.Find("catchup"), "catchup") ?? false,
            MaxActiveRuns = maxActiveRuns,
            Params = Map(root.Find("params"), "params"),
            Notify = ReadNotify(root.Find("notify")),
            Budget = ReadBudget(root.Find("budget")),
            Deadline = ReadDeadline(root.Find("deadline")),
            OnDatasets = DatasetList(root.Find("on_datasets"), "on_datasets"),
            Tasks = definitions,
            SourceFile = fileName,
            SourceText = text,
            Version = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..12],
        };
        return Result(dag);
    }

    private DagParseResult Result(DagDefinition? dag)
    {
        // Line order reads like the file; problems on one line keep the order they were found in.
        var problems = _problems.OrderBy(p => p.Line).ToImmutableArray();
        return new DagParseResult(problems.IsEmpty ? dag : null, problems);
    }

    private void Report(int line, string message)
    {
        var problem = new DagProblem(fileName, line, message);
        if (_reported.Add(problem))
        {
            _problems.Add(problem);
        }
    }

    private void ReportDuplicates(YamlNode root, YamlMapping? tasks)
    {
        var visited = new HashSet<YamlNode>(ReferenceEqualityComparer.Instance);
        var pending = new Stack<YamlNode>();
        pending.Push(root);
        while (pending.TryPop(out var node))
        {
            if (!visited.Add(node))
            {
                continue;
            }
            switch (node)
            {
                case YamlMapping mapping:
                    foreach (var (key, firstLine) in mapping.Duplicates)
                    {
                        var what = ReferenceEquals(mapping, tasks) ? "task id" : "key";
                        Report(key.Line, $"duplicate {what} '{key.Value}' (first at line {firstLine})");
                    }
                    foreach (var entry in mapping.Entries)
                    {
                        pending.Push(entry.Value);
                    }
                    break;
                case YamlSequence sequence:
                    foreach (var item in sequence.Items)
                    {
                        pending.Push(item);
                    }
                    break;
            }
        }
    }

    private void CheckKeys(YamlMapping mapping, string[] known, string? context)
    {
        foreach (var entry in mapping.Entries)
        {
            var key = entry.Key.Value;
            if (!known.Contains(key, StringComparer.Ordinal))
            {
                var where = context is null ? "" : $" in '{context}'";
                Report(entry.Key.Line, $"unknown key '{key}'{where}{Suggestions.DidYouMean(key, known)}");
            }
        }
    }

    private string? ReadDagId(YamlEntry? entry, string? defaultId)
    {
        const string Rule = "use lowercase letters, digits, '_' and '-', up to 63 characters, starting with a letter or digit";
        var id = Str(entry, "id");
        if (id is not null)
        {
            if (!DagIdPattern().IsMatch(id))
            {
                Report(entry!.Value.Line, $"invalid DAG id '{id}' ({Rule})");
            }
            return id;
        }
        if (defaultId is null)
        {
            Report(entry?.Key.Line ?? 1, "no DAG id: set 'id:'");
            return null;
        }
        if (!DagIdPattern().IsMatch(defaultId))
        {
            Report(1, $"invalid DAG id '{defaultId}' taken from the file name ({Rule}); set 'id:' or rename the file");
        }
        return defaultId;
    }

    /// <summary>The time zone when it exists; null when unset (UTC) or unknown (already reported).</summary>
    private string? ReadTimezone(YamlEntry? entry)
    {
        var zone = Str(entry, "timezone");
        if (zone is null)
        {
            return null;
        }
        if (CronSchedule.TryParse("@daily", zone, out var error) is null)
        {
            Report(entry!.Value.Line, error ?? $"unknown time zone '{zone}'");
            return null;
        }
        return zone;
    }

    private string? ReadSchedule(YamlEntry? entry, string? timezone)
    {
        var schedule = Str(entry, "schedule");
        if (schedule is not null && CronSchedule.TryParse(schedule, timezone ?? "UTC", out var error) is null)
        {
            Report(entry!.Value.Line, error ?? $"bad cron '{schedule}'");
        }
        return schedule;
    }

    private NotifySettings ReadNotify(YamlEntry? entry)
    {
        if (MappingOf(entry, "notify") is not { } notify)
        {
            return new NotifySettings();
        }
        CheckKeys(notify, NotifyKeys, "notify");
        return new NotifySettings
        {
            OnFailure = Strings(notify.Find("on_failure"), "notify.on_failure", split: false),
            OnSuccess = Strings(notify.Find("on_success"), "notify.on_success", split: false),
            OnRetry = Strings(notify.Find("on_retry"), "notify.on_retry", split: false),
            OnLate = Strings(notify.Find("on_late"), "notify.on_late", split: false),
            OnBudget = Strings(notify.Find("on_budget"), "notify.on_budget", split: false),
        };
    }

    private BudgetSettings? ReadBudget(YamlEntry? entry)
    {
        if (MappingOf(entry, "budget") is not { } budget)
        {
            return null;
        }
        CheckKeys(budget, BudgetKeys, "budget");
        var monthly = Number(budget.Find("monthly_usd"), "budget.monthly_usd");
        if (budget.Find("monthly_usd") is null)
        {
            Report(budget.Line, "'budget' needs 'monthly_usd' (the month's budget in US dollars, e.g. monthly_usd: 500)");
        }
        else if (monthly is { } m && (m <= 0 || m > 1e12))
        {
            Report(budget.Find("monthly_usd")!.Value.Line, $"'budget.monthly_usd' must be more than 0, found {m.ToString(CultureInfo.InvariantCulture)}");
        }
        return new BudgetSettings
        {
            MonthlyUsd = monthly is { } usd && usd > 0 && usd <= 1e12 ? Math.Round((decimal)usd, 2) : 0m,
            PauseOnExceed = Bool(budget.Find("pause_on_exceed"), "budget.pause_on_exceed") ?? false,
        };
    }

    /// <summary><c>deadline: { within: 2h, after: logical_date | queued }</c> (after defaults to logical_date).</summary>
    private DeadlineSettings? ReadDeadline(YamlEntry? entry)
    {
        if (entry?.Value is YamlScalar { IsNull: false } scalar)
        {
            Report(scalar.Line, $"'deadline' of a DAG must be a map, e.g. deadline: {{ within: {scalar.Value}, after: logical_date }}");
            return null;
        }
        if (MappingOf(entry, "deadline") is not { } deadline)
        {
            return null;
        }
        CheckKeys(deadline, DeadlineKeys, "deadline");
        var within = Duration(deadline.Find("within"), "deadline.within");
        if (deadline.Find("within") is not { Value: not YamlScalar { IsNull: true } })
        {
            Report(deadline.Line, "'deadline' needs 'within' (how long a run may take, e.g. within: 2h)");
        }
        else if (within <= TimeSpan.Zero)
        {
            Report(deadline.Find("within")!.Value.Line, "'deadline.within' must be longer than 0s");
        }
        var anchor = DeadlineAnchor.LogicalDate;
        if (Str(deadline.Find("after"), "deadline.after") is { } after && !DeadlineAnchors.TryGetValue(after, out anchor))
        {
            Report(deadline.Find("after")!.Value.Line, $"unknown 'deadline.after' '{after}' (use logical_date or queued)");
        }
        return within is { } span && span > TimeSpan.Zero ? new DeadlineSettings { Within = span, After = anchor } : null;
    }

    private YamlMapping? ReadDefaults(YamlEntry? entry)
    {
        if (MappingOf(entry, "defaults") is not { } defaults)
        {
            return null;
        }
        CheckKeys(defaults, TaskKeys, "defaults");
        if (defaults.Find("depends_on") is { } dependsOn)
        {
            // Every task depending on the same task would include that task itself: always a cycle.
            Report(dependsOn.Key.Line, "'depends_on' cannot be set in 'defaults'; use it on tasks or use 'flow'");
        }
        foreach (var own in new[] { "map", "when", "output_json", "produces" })
        {
            if (defaults.Find(own) is { } perTask)
            {
                Report(perTask.Key.Line, $"'{own}' cannot be set in 'defaults'; it belongs to one task");
            }
        }
        return defaults;
    }

    private List<ParsedTask> ReadTasks(YamlEntry? entry, YamlMapping? defaults)
    {
        var tasks = new List<ParsedTask>();
        if (entry is null || entry.Value is YamlScalar { IsNull: true })
        {
            Report(entry?.Key.Line ?? 1, "no tasks");
            return tasks;
        }
        if (entry.Value is not YamlMapping mapping)
        {
            Report(entry.Value.Line, "'tasks' must be a map of task id to task");
            return tasks;
        }
        if (mapping.Entries.Count == 0)
        {
            Report(entry.Key.Line, "no tasks");
            return tasks;
        }

        foreach (var taskEntry in mapping.Entries)
        {
            var id = taskEntry.Key.Value;
            if (!TaskIdPattern().IsMatch(id))
            {
                Report(taskEntry.Key.Line, $"invalid task id '{id}' (use letters, digits, '_' and '-', up to 63 characters)");
            }
            var node = taskEntry.Value switch
            {
                YamlMapping fields => fields,
                YamlScalar { IsNull: true } => new YamlMapping(taskEntry.Key.Line, [], []),
                _ => null,
            };
            var malformed = node is null;
            if (node is null)
            {
                Report(taskEntry.Value.Line, $"task '{id}' must be a map of fields");
                node = new YamlMapping(taskEntry.Key.Line, [], []);
            }
            CheckKeys(node, TaskKeys, null);
            tasks.Add(new ParsedTask(taskEntry.Key, node, ReadTask(id, taskEntry.Key.Line, node, defaults), malformed));
        }
        return tasks;
    }

    private TaskDefinition ReadTask(string id, int line, YamlMapping task, YamlMapping? defaults)
    {
        // A field the task sets wins; otherwise the defaults' value applies. Maps merge key by key.
        YamlEntry? Field(string key) =>
            task.Find(key) is { Value: not YamlScalar { IsNull: true } } own ? own : defaults?.Find(key);

        YamlEntry? MergedMap(string key)
        {
            var own = task.Find(key);
            var inherited = defaults?.Find(key);
            if (own?.Value is not YamlMapping ownMap || inherited?.Value is not YamlMapping inheritedMap)
            {
                return own is { Value: not YamlScalar { IsNull: true } } ? own : inherited;
            }
            var entries = inheritedMap.Entries.Where(e => ownMap.Find(e.Key.Value) is null).Concat(ownMap.Entries).ToList();
            return new YamlEntry(own.Key, new YamlMapping(ownMap.Line, entries, []));
        }

        var retries = Int(Field("retries"), "retries") ?? 0;
        if (retries < 0)
        {
            Report(Field("retries")!.Value.Line, $"'retries' must be 0 or more, found {retries}");
        }
        var backoff = Number(Field("retry_backoff"), "retry_backoff") ?? 1.0;
        if (backoff < 1)
        {
            Report(Field("retry_backoff")!.Value.Line, $"'retry_backoff' must be at least 1, found {backoff.ToString(CultureInfo.InvariantCulture)}");
        }
        var timeout = Duration(Field("timeout"), "timeout");
        if (timeout == TimeSpan.Zero)
        {
            Report(Field("timeout")!.Value.Line, "'timeout' must be longer than 0s");
        }
        var deadline = Duration(Field("deadline"), "deadline");
        if (deadline <= TimeSpan.Zero)
        {
            Report(Field("deadline")!.Value.Line, "'deadline' of a task must be longer than 0s");
        }
        var pool = Str(Field("pool"), "pool") ?? "default";
        if (pool.StartsWith(Pools.PoolSettings.QuotaPrefix, StringComparison.Ordinal))
        {
            // Quotas are pools named quota:TYPE (Batchyard:Quotas:TYPE); a task holds them through its instance type.
            Report(Field("pool")!.Value.Line, $"pool '{pool}' may not start with '{Pools.PoolSettings.QuotaPrefix}': that names an instance quota (Batchyard:Quotas:TYPE), which a task takes through resources.instance_type");
        }

        return new TaskDefinition
        {
            TaskId = id,
            Line = line,
            Backend = Str(Field("backend"), "backend") ?? "local",
            Image = Str(Field("image"), "image"),
            Command = Strings(Field("command"), "command", split: true),
            Args = Strings(Field("args"), "args", split: true),
            Env = Map(MergedMap("env"), "env"),
            WorkingDir = Str(Field("working_dir"), "working_dir"),
            Resources = ReadResources(MergedMap("resources")),
            Retries = retries,
            RetryDelay = Duration(Field("retry_delay"), "retry_delay") ?? TimeSpan.FromSeconds(30),
            RetryBackoff = backoff,
            MaxRetryDelay = Duration(Field("max_retry_delay"), "max_retry_delay"),
            Timeout = timeout,
            Pool = pool,
            TriggerRule = ReadTriggerRule(Field("trigger_rule")),
            Inputs = Channels(Field("inputs"), "inputs"),
            Outputs = Channels(Field("outputs"), "outputs"),
            Hyperparameters = Map(MergedMap("hyperparameters"), "hyperparameters"),
            OutputPath = Str(Field("output_path"), "output_path"),
            Map = ReadMap(task.Find("map")),
            When = Str(task.Find("when"), "when"),
            OutputJson = Str(task.Find("output_json"), "output_json"),
            CheckpointS3 = Str(Field("checkpoint_s3"), "checkpoint_s3"),
            Produces = DatasetList(task.Find("produces"), "produces"),
            Deadline = deadline > TimeSpan.Zero ? deadline : null,
        };
    }

    private MapSpec? ReadMap(YamlEntry? entry)
    {
        if (MappingOf(entry, "map") is not { } map)
        {
            return null;
        }
        CheckKeys(map, MapKeys, "map");
        var maxActive = Int(map.Find("max_active"), "map.max_active");
        if (maxActive < 1)
        {
            Report(map.Find("max_active")!.Value.Line, $"'map.max_active' must be at least 1, found {maxActive}");
        }
        switch (map.Find("over"))
        {
            case null or { Value: YamlScalar { IsNull: true } }:
                Report(entry!.Key.Line, "'map' needs 'over': a list, a param holding a JSON list, or an upstream output ({{ tasks.ID.output.KEY }})");
                return new MapSpec { MaxActive = maxActive };
            case { Value: YamlSequence list }:
                if (list.Items.Count > MapSpec.MaxInstances)
                {
                    Report(list.Line, $"'map.over' lists {list.Items.Count} items; a mapped task has at most {MapSpec.MaxInstances}");
                }
                return new MapSpec { Items = [.. list.Items.Select(item => ToJson(item).ToJsonString())], MaxActive = maxActive };
            case { Value: YamlScalar over }:
                if (!over.Value.Contains("{{", StringComparison.Ordinal))
                {
                    // Without a template the text is the list itself: check it now rather than at every run.
                    try
                    {
                        if (JsonNode.Parse(over.Value) is not JsonArray)
                        {
                            Report(over.Line, "'map.over' must be a YAML list, or text that is (or renders to) a JSON list");
                        }
                    }
                    catch (JsonException)
                    {
                        Report(over.Line, "'map.over' must be a YAML list, or text that is (or renders to) a JSON list");
                    }
                }
                return new MapSpec { Over = over.Value, MaxActive = maxActive };
            case { Value: var other }:
                Report(other.Line, "'map.over' must be a list or text, not a map");
                return new MapSpec { MaxActive = maxActive };
        }
    }

    /// <summary>A YAML value as JSON: texts stay texts (YAML here has no types), maps become objects, lists arrays.</summary>
    private static JsonNode ToJson(YamlNode node) => node switch
    {
        YamlMapping map => new JsonObject(map.Entries.Select(e => KeyValuePair.Create(e.Key.Value, (JsonNode?)ToJson(e.Value)))),
        YamlSequence list => new JsonArray([.. list.Items.Select(i => (JsonNode?)ToJson(i))]),
        YamlScalar { IsNull: true } => JsonValue.Create("")!,
        YamlScalar scalar => JsonValue.Create(scalar.Value)!,
        _ => JsonValue.Create("")!,
    };

    /// <summary>Every task's ancestors (transitive upstream); tasks in a cycle (already reported) stop the walk.</summary>
    private static Dictionary<string, HashSet<string>> Ancestors(Dictionary<string, HashSet<string>> upstream)
    {
        var result = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
        foreach (var id in upstream.Keys)
        {
            var seen = new HashSet<string>(StringComparer.Ordinal);
            var stack = new Stack<string>(upstream[id]);
            while (stack.TryPop(out var up))
            {
                if (seen.Add(up))
                {
                    foreach (var next in upstream[up])
                    {
                        stack.Push(next);
                    }
                }
            }
            seen.Remove(id);
            result[id] = seen;
        }
        return result;
    }

    private TaskResources ReadResources(YamlEntry? entry)
    {
        if (MappingOf(entry, "resources") is not { } resources)
        {
            return new TaskResources();
        }
        CheckKeys(resources, ResourceKeys, "resources");
        var memory = Int(resources.Find("memory_mb"), "resources.memory_mb");
        if (memory <= 0)
        {
            Report(resources.Find("memory_mb")!.Value.Line, $"'resources.memory_mb' must be greater than 0, found {memory}");
        }
        var cpus = Number(resources.Find("cpus"), "resources.cpus");
        if (cpus <= 0)
        {
            Report(resources.Find("cpus")!.Value.Line, $"'resources.cpus' must be greater than 0, found {cpus.GetValueOrDefault().ToString(CultureInfo.InvariantCulture)}");
        }
        var gpus = Int(resources.Find("gpus"), "resources.gpus");
        if (gpus < 1)
        {
            Report(resources.Find("gpus")!.Value.Line, $"'resources.gpus' must be at least 1, found {gpus}");
        }
        var spot = Bool(resources.Find("spot"), "resources.spot");
        var maxWait = Duration(resources.Find("max_wait"), "resources.max_wait");
        if (maxWait is not null && spot != true)
        {
            Report(resources.Find("max_wait")!.Value.Line, "'resources.max_wait' is the wait for spot capacity: it needs 'resources.spot: true'");
        }
        else if (maxWait is { } wait && wait < TimeSpan.FromSeconds(1))
        {
            Report(resources.Find("max_wait")!.Value.Line, "'resources.max_wait' must be at least 1s");
        }
        var keepAlive = Duration(resources.Find("keep_alive"), "resources.keep_alive");
        if (keepAlive is { } alive && alive.TotalSeconds > MaxKeepAliveSeconds)
        {
            Report(resources.Find("keep_alive")!.Value.Line, $"'resources.keep_alive' is at most 1h ({MaxKeepAliveSeconds} s), found {Durations.Format(alive)}");
        }
        return new TaskResources
        {
            InstanceType = Str(resources.Find("instance_type"), "resources.instance_type"),
            InstanceCount = Int(resources.Find("instance_count"), "resources.instance_count"),
            VolumeGb = Int(resources.Find("volume_gb"), "resources.volume_gb"),
            MemoryMb = memory,
            Cpus = cpus,
            Gpus = gpus,
            Spot = spot,
            MaxWait = maxWait,
            KeepAlive = keepAlive,
        };
    }

    private TriggerRule ReadTriggerRule(YamlEntry? entry)
    {
        var rule = Str(entry, "trigger_rule");
        if (rule is null)
        {
            return TriggerRule.AllSuccess;
        }
        if (TriggerRules.TryGetValue(rule, out var value))
        {
            return value;
        }
        Report(entry!.Value.Line, $"unknown trigger rule '{rule}' (use {string.Join(", ", TriggerRules.Keys)})");
        return TriggerRule.AllSuccess;
    }

    private ImmutableArray<DataChannel> Channels(YamlEntry? entry, string path)
    {
        if (entry is null || entry.Value is YamlScalar { IsNull: true })
        {
            return [];
        }
        if (entry.Value is not YamlSequence sequence)
        {
            Report(entry.Value.Line, $"'{path}' must be a list of {{name, s3_uri, local_path}}");
            return [];
        }
        var channels = ImmutableArray.CreateBuilder<DataChannel>();
        foreach (var item in sequence.Items)
        {
            if (item is not YamlMapping channel)
            {
                Report(item.Line, $"each of '{path}' must be a map {{name, s3_uri, local_path}}");
                continue;
            }
            CheckKeys(channel, ChannelKeys, path);
            var name = Str(channel.Find("name"), $"{path}.name");
            var uri = Str(channel.Find("s3_uri"), $"{path}.s3_uri");
            if (name is null)
            {
                Report(channel.Line, $"an entry of '{path}' needs 'name'");
            }
            if (uri is null)
            {
                Report(channel.Line, $"an entry of '{path}' needs 's3_uri'");
            }
            if (name is not null && uri is not null)
            {
                channels.Add(new DataChannel { Name = name, S3Uri = uri, LocalPath = Str(channel.Find("local_path"), $"{path}.local_path") });
            }
        }
        return channels.ToImmutable();
    }

    /// <summary>Direct upstream ids per task, from every task's <c>depends_on</c> and every <c>flow</c>.</summary>
    private Dictionary<string, HashSet<string>> ReadDependencies(List<ParsedTask> tasks, YamlEntry? flow)
    {
        var upstream = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
        foreach (var task in tasks)
        {
            upstream[task.Definition.TaskId] = new HashSet<string>(StringComparer.Ordinal);
        }
        var ids = upstream.Keys.ToList();

        foreach (var task in tasks)
        {
            if (task.Node.Find("depends_on") is not { } dependsOn)
            {
                continue;
            }
            foreach (var (line, name) in Items(dependsOn, "depends_on"))
            {
                if (upstream.ContainsKey(name))
                {
                    upstream[task.Definition.TaskId].Add(name);
                }
                else
                {
                    Report(line, $"task '{task.Definition.TaskId}' depends on unknown task '{name}'{Suggestions.DidYouMean(name, ids)}");
                }
            }
        }

        if (flow is null)
        {
            return upstream;
        }
        foreach (var (line, expression) in Items(flow, "flow"))
        {
            var groups = Flow.Parse(expression, out var error);
            if (groups is null)
            {
                Report(line, $"bad flow '{expression}': {error}");
                continue;
            }
            foreach (var name in groups.SelectMany(g => g).Distinct(StringComparer.Ordinal))
            {
                if (!upstream.ContainsKey(name))
                {
                    Report(line, $"unknown task '{name}' in flow{Suggestions.DidYouMean(name, ids)}");
                }
            }
            for (var i = 1; i < groups.Count; i++)
            {
                foreach (var downstream in groups[i].Where(upstream.ContainsKey))
                {
                    upstream[downstream].UnionWith(groups[i - 1].Where(upstream.ContainsKey));
                }
            }
        }
        return upstream;
    }

    /// <summary>Reports each cycle once, named from its task that comes first in the file, in flow direction.</summary>
    private void FindCycles(List<ParsedTask> tasks, Dictionary<string, HashSet<string>> upstream)
    {
        var order = tasks.Select((t, i) => (t.Definition.TaskId, i)).ToDictionary(p => p.TaskId, p => p.i, StringComparer.Ordinal);
        var downstream = tasks.ToDictionary(t => t.Definition.TaskId, _ => new List<string>(), StringComparer.Ordinal);
        foreach (var task in tasks)
        {
            foreach (var up in upstream[task.Definition.TaskId].OrderBy(u => order[u]))
            {
                downstream[up].Add(task.Definition.TaskId);
            }
        }
        foreach (var list in downstream.Values)
        {
            list.Sort((a, b) => order[a].CompareTo(order[b]));
        }

        var state = new Dictionary<string, int>(StringComparer.Ordinal); // absent: new, 1: on the path, 2: done
        var path = new List<string>();
        var found = new HashSet<string>(StringComparer.Ordinal);

        void Visit(string id)
        {
            state[id] = 1;
            path.Add(id);
            foreach (var next in downstream[id])
            {
                if (state.GetValueOrDefault(next) == 1)
                {
                    var cycle = path.Skip(path.IndexOf(next)).ToList();
                    var first = cycle.MinBy(c => order[c])!;
                    var start = cycle.IndexOf(first);
                    var named = cycle.Skip(start).Concat(cycle.Take(start)).Append(first).ToList();
                    if (found.Add(string.Join(" -> ", named)))
                    {
                        Report(tasks[order[first]].Key.Line, $"cycle: {string.Join(" -> ", named)}");
                    }
                }
                else if (!state.ContainsKey(next))
                {
                    Visit(next);
                }
            }
            path.RemoveAt(path.Count - 1);
            state[id] = 2;
        }

        foreach (var task in tasks)
        {
            if (!state.ContainsKey(task.Definition.TaskId))
            {
                Visit(task.Definition.TaskId);
            }
        }
    }

    private void CheckTasks(List<ParsedTask> tasks, YamlMapping? defaults, Dictionary<string, HashSet<string>> ancestors)
    {
        var backendProblems = new List<(int Line, string Message, string TaskId)>();
        var taskIds = tasks.Select(t => t.Definition.TaskId).ToHashSet(StringComparer.Ordinal);
        foreach (var task in tasks)
        {
            var id = task.Definition.TaskId;
            var scope = new TemplateScope(id, task.Definition.Map is not null, ancestors.GetValueOrDefault(id) ?? [], taskIds);
            CheckTask(task, defaults, scope, backendProblems);
        }
        // One objection to a defaults value would otherwise be repeated for every task that inherits it.
        foreach (var group in backendProblems.GroupBy(p => (p.Line, p.Message)))
        {
            var ids = group.Select(p => $"'{p.TaskId}'").ToList();
            Report(group.Key.Line, $"{(ids.Count == 1 ? "task" : "tasks")} {string.Join(", ", ids)}: {group.Key.Message}");
        }
    }

    /// <summary>Checks that need the whole task: backend, command, templates, and the backend's own rules.</summary>
    private void CheckTask(ParsedTask task, YamlMapping? defaults, TemplateScope scope, List<(int, string, string)> backendProblems)
    {
        var definition = task.Definition;
        var id = definition.TaskId;
        int LineOf(string path) => TaskPaths.Line(path, task.Node, defaults, task.Key.Line);

        var backend = backends.Find(definition.Backend);
        if (backend is null)
        {
            Report(LineOf("backend"), $"unknown backend '{definition.Backend}' (registered: {string.Join(", ", backends.Names)})");
        }
        if (definition.Backend == "local" && definition.Command.IsEmpty && !task.Malformed)
        {
            Report(task.Key.Line, $"task '{id}': a local task needs a command");
        }

        for (var i = 0; i < definition.Command.Length; i++)
        {
            CheckTemplate(definition.Command[i], LineOf($"command[{i}]"), scope);
        }
        for (var i = 0; i < definition.Args.Length; i++)
        {
            CheckTemplate(definition.Args[i], LineOf($"args[{i}]"), scope);
        }
        foreach (var (key, value) in definition.Env.OrderBy(e => e.Key, StringComparer.Ordinal))
        {
            CheckTemplate(value, LineOf($"env.{key}"), scope);
        }
        if (definition.Map?.Over is { } over)
        {
            // The list is rendered before there are items: item and map_index mean nothing in it.
            CheckTemplate(over, task.Node.Find("map")?.Value is YamlMapping map ? map.Find("over")!.Value.Line : task.Key.Line, scope with { Mapped = false });
        }
        if (definition.When is { } when)
        {
            CheckCondition(when, task.Node.Find("when")!.Value.Line, scope);
        }
        if (definition.OutputJson is { } outputJson)
        {
            var line = task.Node.Find("output_json")!.Value.Line;
            if (definition.Backend != "sagemaker")
            {
                Report(line, $"task '{id}': 'output_json' is read by the sagemaker backend only (local jobs write their output to ${TaskOutputs.EnvironmentVariable}; sagemaker-training outputs its final metrics)");
            }
            else if (!outputJson.StartsWith("s3://", StringComparison.Ordinal) || outputJson.Length <= "s3://".Length || !outputJson["s3://".Length..].Contains('/', StringComparison.Ordinal))
            {
                Report(line, $"task '{id}': 'output_json' must be an S3 object URI, s3://bucket/key, found '{outputJson}'");
            }
            CheckTemplate(outputJson, line, scope);
        }

        foreach (var problem in backend?.Validate(definition) ?? [])
        {
            backendProblems.Add((LineOf(problem.Path), problem.Message, id));
        }
    }

    private void CheckTemplate(string value, int line, TemplateScope scope)
    {
        foreach (var problem in Templates.Problems(value, scope))
        {
            Report(line, problem);
        }
    }

    private void CheckCondition(string text, int line, TemplateScope scope)
    {
        Condition condition;
        try
        {
            condition = Condition.Parse(text);
        }
        catch (ConditionSyntaxException ex)
        {
            Report(line, ex.Message);
            return;
        }
        foreach (var name in condition.Placeholders)
        {
            if (Templates.Problem(name, scope) is { } problem)
            {
                Report(line, $"when: {problem}");
            }
        }
    }

    // Scalar readers: each reports a value of the wrong shape and returns null, so reading goes on.

    private string? Str(YamlEntry? entry, string path)
    {
        switch (entry?.Value)
        {
            case null:
            case YamlScalar { IsNull: true }:
                return null;
            case YamlScalar scalar:
                return scalar.Value;
            default:
                Report(entry.Value.Line, $"'{path}' must be text, not a {Shape(entry.Value)}");
                return null;
        }
    }

    private int? Int(YamlEntry? entry, string path) => Parsed(
        entry, path,
        (string text, out int value) => int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out value),
        text => $"'{path}' must be a whole number, found '{text}'");

    private double? Number(YamlEntry? entry, string path) => Parsed(
        entry, path,
        (string text, out double value) => double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out value) && double.IsFinite(value),
        text => $"'{path}' must be a number, found '{text}'");

    private bool? Bool(YamlEntry? entry, string path) => Parsed<bool>(
        entry, path,
        bool.TryParse,
        text => $"'{path}' must be true or false, found '{text}'");

    private TimeSpan? Duration(YamlEntry? entry, string path) => Parsed<TimeSpan>(
        entry, path,
        Durations.TryParse,
        text => $"bad duration '{text}' for '{path}' (use e.g. 500ms, 30s, 5m, 2h, 1d or 1h30m)");

    private delegate bool TryParseText<T>(string text, out T value);

    /// <summary>A text value converted by <paramref name="parse"/>; null when unset, or when it does not parse (reported).</summary>
    private T? Parsed<T>(YamlEntry? entry, string path, TryParseText<T> parse, Func<string, string> complaint)
        where T : struct
    {
        var text = Str(entry, path);
        if (text is null)
        {
            return null;
        }
        if (parse(text, out var value))
        {
            return value;
        }
        Report(entry!.Value.Line, complaint(text));
        return null;
    }

    /// <summary>A list of texts; one text is a one-item list, or split into words when <paramref name="split"/>.</summary>
    private ImmutableArray<string> Strings(YamlEntry? entry, string path, bool split)
    {
        if (entry?.Value is YamlScalar { IsNull: false } scalar && split)
        {
            return [.. Word().Matches(scalar.Value).Select(m => m.Value)];
        }
        return [.. Items(entry, path).Select(item => item.Value)];
    }

    /// <summary>Dataset names (<c>produces:</c>, <c>on_datasets:</c>): a list of valid names, each once.</summary>
    private ImmutableArray<string> DatasetList(YamlEntry? entry, string path)
    {
        if (entry?.Value is YamlScalar { IsNull: false } scalar)
        {
            Report(scalar.Line, $"'{path}' must be a list of dataset names, e.g. {path}: [{scalar.Value}]");
            return [];
        }
        var names = ImmutableArray.CreateBuilder<string>();
        foreach (var (line, name) in Items(entry, path))
        {
            if (!Batchyard.Datasets.DatasetNames.IsValid(name))
            {
                Report(line, $"bad dataset name '{name}' in '{path}' (lower-case letters, digits, '.', '_' and '-', starting with a letter or digit, at most 100)");
            }
            else if (names.Contains(name))
            {
                Report(line, $"dataset '{name}' is listed twice in '{path}'");
            }
            else
            {
                names.Add(name);
            }
        }
        return names.ToImmutable();
    }

    /// <summary>The texts of a list (or of a single text), each with its line.</summary>
    private List<(int Line, string Value)> Items(YamlEntry? entry, string path)
    {
        var items = new List<(int, string)>();
        switch (entry?.Value)
        {
            case null:
            case YamlScalar { IsNull: true }:
                break;
            case YamlScalar scalar:
                items.Add((scalar.Line, scalar.Value));
                break;
            case YamlSequence sequence:
                foreach (var item in sequence.Items)
                {
                    if (item is YamlScalar { IsNull: false } text)
                    {
                        items.Add((text.Line, text.Value));
                    }
                    else
                    {
                        Report(item.Line, $"each item of '{path}' must be text, not {(item is YamlScalar ? "empty" : "a " + Shape(item))}");
                    }
                }
                break;
            default:
                Report(entry.Value.Line, $"'{path}' must be a list, not a map");
                break;
        }
        return items;
    }

    private ImmutableDictionary<string, string> Map(YamlEntry? entry, string path)
    {
        if (MappingOf(entry, path) is not { } mapping)
        {
            return ImmutableDictionary<string, string>.Empty;
        }
        var builder = ImmutableDictionary.CreateBuilder<string, string>(StringComparer.Ordinal);
        foreach (var item in mapping.Entries)
        {
            switch (item.Value)
            {
                case YamlScalar { IsNull: true }:
                    builder[item.Key.Value] = "";
                    break;
                case YamlScalar scalar:
                    builder[item.Key.Value] = scalar.Value;
                    break;
                default:
                    Report(item.Value.Line, $"'{path}.{item.Key.Value}' must be text, not a {Shape(item.Value)}");
                    break;
            }
        }
        return builder.ToImmutable();
    }

    private YamlMapping? MappingOf(YamlEntry? entry, string path)
    {
        switch (entry?.Value)
        {
            case null:
            case YamlScalar { IsNull: true }:
                return null;
            case YamlMapping mapping:
                return mapping;
            default:
                Report(entry.Value.Line, $"'{path}' must be a map, not {(entry.Value is YamlScalar ? "text" : "a list")}");
                return null;
        }
    }

    private static string Shape(YamlNode node) => node switch
    {
        YamlMapping => "map",
        YamlSequence => "list",
        _ => "text",
    };

    /// <summary>
    /// A task as read: its key (for lines), its own fields, its definition with defaults applied, and whether
    /// its value was not a map at all (already reported, so its missing fields are not reported again).
    /// </summary>
    private sealed record ParsedTask(YamlScalar Key, YamlMapping Node, TaskDefinition Definition, bool Malformed);
}
