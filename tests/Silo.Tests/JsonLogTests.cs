using System.Text.Json;

namespace Batchyard.Tests;

/// <summary>
/// <c>Batchyard:Logging:Format=json</c>: the console gets one JSON object a line, and the lines about a run's
/// tasks carry dag, run, task and attempt as fields and the run's trace id in a scope. Alone in its collection:
/// it takes the process's console for a moment.
/// </summary>
[Collection(JsonLogCollection.Name)]
public sealed class JsonLogTests
{
    [Fact]
    public async Task JsonFormat_AttemptRecords_CarryDagRunTaskAttemptAndTraceId()
    {
        var console = new StringWriter();
        var original = Console.Out;
        Console.SetOut(TextWriter.Synchronized(console));
        try
        {
            var dagId = HostFixture.NewDagId("jsonlog");
            await using (var host = await BatchyardTestHost.StartAsync(new Dictionary<string, string?> { ["Batchyard:Logging:Format"] = "json" }))
            {
                await host.ApplyAsync(dagId, TestDags.Quick(dagId));
                var runId = await host.TriggerAsync(dagId);
                await host.WaitForRunEndAsync(dagId, runId);
            }
            var records = console.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries)
                .Where(line => line.TrimStart().StartsWith('{'))
                .Select(line => JsonDocument.Parse(line).RootElement)
                .ToList();

            Assert.NotEmpty(records);
            var ended = Assert.Single(records, r => Field(r, "DagId") == dagId && Field(r, "TaskId") == "hello"
                && r.GetProperty("Category").GetString() == "Batchyard.Runs.DagRunGrain");
            Assert.False(string.IsNullOrEmpty(Field(ended, "RunId")));
            Assert.Equal("1", Field(ended, "Attempt"));
            var traceId = Scope(ended, "TraceId");
            Assert.Matches("^[0-9a-f]{32}$", traceId);
            // The supervisor's line about the same attempt is in the same trace.
            var submitted = Assert.Single(records, r => Field(r, "DagId") == dagId && Field(r, "TaskId") == "hello"
                && r.GetProperty("Category").GetString() == "Batchyard.Runs.JobSupervisorGrain");
            Assert.Equal(traceId, Scope(submitted, "TraceId"));
        }
        finally
        {
            Console.SetOut(original);
        }
    }

    private static string? Field(JsonElement record, string name) =>
        record.TryGetProperty("State", out var state) && state.TryGetProperty(name, out var value) ? value.ToString() : null;

    private static string? Scope(JsonElement record, string name) =>
        record.TryGetProperty("Scopes", out var scopes)
            ? scopes.EnumerateArray().Where(s => s.ValueKind == JsonValueKind.Object && s.TryGetProperty(name, out _)).Select(s => s.GetProperty(name).GetString()).FirstOrDefault()
            : null;
}

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class JsonLogCollection
{
    public const string Name = "json-log";
}
