namespace Batchyard.Tests;

/// <summary>DAG files the tests apply: local tasks as <c>sh -c</c> commands, and noop tasks.</summary>
public static class TestDags
{
    public static string Quick(string dagId) => $$"""
        id: {{dagId}}
        tasks:
          hello:
            backend: local
            command: [sh, -c, 'echo "hello from the task"']
          after:
            backend: noop
            depends_on: hello
        """;

    /// <summary>One noop task: a run that ends at once.</summary>
    public static string Noop(string dagId) => $$"""
        id: {{dagId}}
        tasks:
          only:
            backend: noop
        """;

    public static string Failing(string dagId) => $$"""
        id: {{dagId}}
        tasks:
          broken:
            backend: local
            command: [sh, -c, 'echo "about to fail"; exit 3']
        """;

    /// <summary>A task <c>flaky</c> that prints <paramref name="first"/> and fails once (a marker file remembers), then prints <paramref name="second"/> on its retry 3 s later.</summary>
    public static string FailsOnce(string dagId, string marker, string first, string second) => $$"""
        id: {{dagId}}
        tasks:
          flaky:
            backend: local
            retries: 1
            retry_delay: 3s
            command: [sh, -c, 'if [ -f "{{marker}}" ]; then echo "{{second}}"; else touch "{{marker}}"; echo "{{first}}"; exit 1; fi']
        """;

    /// <summary>A task that prints a line, then waits for a file in the DAGs folder to appear before it ends.</summary>
    public static string Slow(string dagId, string releaseFile) => $$"""
        id: {{dagId}}
        tasks:
          slow:
            backend: local
            command: [sh, -c, 'echo "started"; for i in $(seq 1 600); do [ -f "{{releaseFile}}" ] && break; sleep 0.1; done; echo "released"']
        """;
}
