using System.Diagnostics;
using System.Globalization;
using Batchyard;
using Batchyard.Dags;
using Batchyard.Grains;
using Batchyard.Runs;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

// Orchestrator overhead with the noop backend, in one embedded silo (memory storage):
//   1. hand-off latency: from a task's end to its downstream task's start, over long chains;
//   2. throughput: task completions per second for a wide DAG.
// Usage: dotnet run -c Release --project bench/Bench [-- chainLength chains width wideRuns]
var args2 = Environment.GetCommandLineArgs().Skip(1).Select(a => int.Parse(a, CultureInfo.InvariantCulture)).ToArray();
var chainLength = args2.ElementAtOrDefault(0) is > 0 and var c ? c : 200;
var chains = args2.ElementAtOrDefault(1) is > 0 and var n ? n : 5;
var width = args2.ElementAtOrDefault(2) is > 0 and var w ? w : 1000;
var wideRuns = args2.ElementAtOrDefault(3) is > 0 and var r ? r : 3;

var builder = Host.CreateApplicationBuilder();
builder.Logging.SetMinimumLevel(LogLevel.Warning);
builder.UseOrleans(silo =>
{
    silo.UseLocalhostClustering(21111, 31000);
    silo.AddMemoryGrainStorage(StorageNames.Batchyard);
    silo.UseInMemoryReminderService();
});
builder.Services.AddBatchyardGrains(Path.Combine(Path.GetTempPath(), "batchyard-bench-logs"));
using var host = builder.Build();
await host.StartAsync();
var grains = host.Services.GetRequiredService<IGrainFactory>();

static TaskDefinition Noop(string id, params string[] upstream) => new() { TaskId = id, Backend = "noop", Upstream = [.. upstream] };

async Task<RunDetails> RunToEndAsync(DagDefinition dag)
{
    var grain = grains.GetGrain<IDagGrain>(dag.DagId);
    await grain.ApplyAsync(dag);
    var run = await grain.TriggerAsync(new());
    var runGrain = grains.GetGrain<IDagRunGrain>(RunKeys.Run(dag.DagId, run.RunId));
    while (true)
    {
        var details = (await runGrain.GetAsync())!;
        if (details.State.IsFinal())
        {
            return details;
        }
        await Task.Delay(5);
    }
}

// 1. Hand-off latency over chains a0 -> a1 -> ... (the first chain warms up and is not counted).
var handoffs = new List<double>();
for (var i = 0; i <= chains; i++)
{
    var tasks = Enumerable.Range(0, chainLength).Select(k => k == 0 ? Noop("t0") : Noop($"t{k}", $"t{k - 1}")).ToArray();
    var done = await RunToEndAsync(new DagDefinition { DagId = $"chain-{i}", Tasks = [.. tasks] });
    if (done.State != RunState.Succeeded)
    {
        throw new InvalidOperationException("chain run did not succeed: " + done.State);
    }
    if (i == 0)
    {
        continue;
    }
    for (var k = 1; k < chainLength; k++)
    {
        var upstreamEnd = done.Tasks[k - 1].Attempts[0].EndedAt!.Value;
        var downstreamStart = done.Tasks[k].Attempts[0].QueuedAt;
        handoffs.Add((downstreamStart - upstreamEnd).TotalMilliseconds);
    }
}
handoffs.Sort();
double Percentile(List<double> sorted, double p) => sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(p * sorted.Count) - 1)];
Console.WriteLine($"hand-off latency (task end -> downstream start), {handoffs.Count} hand-offs over {chains} chains of {chainLength}:");
Console.WriteLine($"  median {Percentile(handoffs, 0.5):F3} ms   p99 {Percentile(handoffs, 0.99):F3} ms   max {handoffs[^1]:F3} ms");

// 2. Throughput of a wide DAG: start >> [w0..wN] >> join.
var rates = new List<double>();
for (var i = 0; i <= wideRuns; i++)
{
    var tasks = new List<TaskDefinition> { Noop("start") };
    tasks.AddRange(Enumerable.Range(0, width).Select(k => Noop($"w{k}", "start")));
    tasks.Add(Noop("join", [.. Enumerable.Range(0, width).Select(k => $"w{k}")]));
    var watch = Stopwatch.StartNew();
    var done = await RunToEndAsync(new DagDefinition { DagId = $"wide-{i}", Tasks = [.. tasks] });
    watch.Stop();
    if (done.State != RunState.Succeeded)
    {
        throw new InvalidOperationException("wide run did not succeed: " + done.State);
    }
    if (i > 0)
    {
        rates.Add(tasks.Count / watch.Elapsed.TotalSeconds);
        Console.WriteLine($"wide DAG run {i}: {tasks.Count} tasks in {watch.Elapsed.TotalMilliseconds:F0} ms = {tasks.Count / watch.Elapsed.TotalSeconds:F0} task completions/s");
    }
}
rates.Sort();
Console.WriteLine($"wide DAG throughput: median {rates[rates.Count / 2]:F0} task completions/s ({width + 2} tasks per run, {Environment.ProcessorCount} cores)");
await host.StopAsync();
