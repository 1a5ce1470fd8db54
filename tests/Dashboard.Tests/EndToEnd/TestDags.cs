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
        ("billed.yaml", """
            id: billed
            description: One quick step under a monthly budget
            owner: finance
            tags: [costs]
            budget: { monthly_usd: 100 }
            tasks:
              step:
                backend: local
                command: [sh, -c, 'echo billed']
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
        ("mapped.yaml", $$$"""
            id: mapped
            description: Scores 60 shards, one of which is broken
            owner: qa
            tags: [map]
            defaults: { backend: local }
            flow: score >> report
            tasks:
              score:
                map:
                  over: {{{Shards}}}
                  max_active: 20
                command: [sh, -c, 'echo "scoring {{ item }}"; if [ "{{ item }}" = s07 ]; then echo "shard s07 is corrupt" >&2; exit 4; fi; printf "{\"shard\": \"%s\"}" "{{ item }}" > "$BATCHYARD_OUTPUT"']
              report:
                command: [sh, -c, 'echo report']
            """),
    ];

    /// <summary>The mapped DAG's 60 items, s00 … s59 (a YAML flow list): two pages of instances.</summary>
    private static string Shards => "[" + string.Join(", ", Enumerable.Range(0, 60).Select(i => $"s{i:00}")) + "]";
}
