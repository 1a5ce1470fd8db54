namespace Batchyard.Dags;

// Temporary until the parser branch lands with the real renderer.
public sealed record TemplateContext(string DagId, string RunId, string TaskId, int Attempt, DateTimeOffset LogicalDate, IReadOnlyDictionary<string, string> Params);

public sealed class TemplateException(string message) : Exception(message);

public static class Templates
{
    public static TaskDefinition RenderTask(TaskDefinition task, TemplateContext context) => task;
}
