namespace Batchyard.Dashboard.Tests.EndToEnd;

/// <summary>DAG files for the browser tests: local shell commands, quick and deterministic.</summary>
public static class TestDags
{
    public static string FixedMarker(string root) => Path.Combine(root, "fixed");

    public static IEnumerable<(string File, string Text)> All(string root) =>
    [
        ("quick.yaml", """
            id: quick
            description: Two short steps
            owner: qa
            tags: [smoke]
            schedule: "0 3 * * *"
            timezone: Asia/Tokyo
            params: { greeting: "hello" }
            defaults: { backend: local }
            flow: first >> second
            tasks:
              first:
                command: [sh, -c, 'echo "greeting={{ params.greeting }}"; sleep 1; echo "first done"']
              second:
                command: [sh, -c, 'echo "second done"']
            """),
        ("slow.yaml", """
            id: slow
            description: Runs until cancelled
            owner: qa
            tags: [long]
            defaults: { backend: local }
            tasks:
              tick:
                command: [sh, -c, 'i=0; while [ $i -lt 600 ]; do i=$((i+1)); echo "tick $i"; sleep 0.3; done']
            """),
        ("failing.yaml", $$"""
            id: failing
            description: Fails until its marker file exists
            owner: ops
            tags: [smoke]
            defaults: { backend: local }
            tasks:
              broken:
                command: [sh, -c, 'if [ -f "{{FixedMarker(root)}}" ]; then echo "fixed now"; else echo "source missing" >&2; exit 3; fi']
              after:
                depends_on: broken
                command: [sh, -c, 'echo "after broken"']
            """),
    ];
}
