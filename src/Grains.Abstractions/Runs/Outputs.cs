namespace Batchyard.Runs;

/// <summary>The one reading of a task's output that the run, the API and the dashboard share.</summary>
public static class Outputs
{
    /// <summary>The output (JSON text) of the latest successful attempt, or null.</summary>
    public static string? Latest(IEnumerable<AttemptDetails> attempts) =>
        attempts.LastOrDefault(a => a.State == AttemptState.Succeeded)?.Output;

    /// <summary>A mapped task's output: the JSON list of its instances' outputs, null where one has none.</summary>
    public static string List(IEnumerable<string?> instanceOutputs) =>
        "[" + string.Join(",", instanceOutputs.Select(o => o ?? "null")) + "]";
}
