using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Batchyard.SageMakerEmulator;

/// <summary>
/// Checks a request body, or the emulator's own answer, against a botocore service model: required members,
/// types, lengths, ranges, patterns and enums, all read from the model file, none written per field.
/// </summary>
public sealed class ModelValidator
{
    private readonly JsonElement _shapes;
    private readonly Dictionary<string, string> _inputs = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _outputs = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Regex?> _patterns = new(StringComparer.Ordinal);

    public ModelValidator(string modelPath)
    {
        using var document = JsonDocument.Parse(File.ReadAllText(modelPath));
        var root = document.RootElement.Clone();
        _shapes = root.GetProperty("shapes");
        TargetPrefix = root.GetProperty("metadata").GetProperty("targetPrefix").GetString()!;
        SigningName = root.GetProperty("metadata").TryGetProperty("signingName", out var signing)
            ? signing.GetString()!
            : root.GetProperty("metadata").GetProperty("endpointPrefix").GetString()!;
        foreach (var operation in root.GetProperty("operations").EnumerateObject())
        {
            if (operation.Value.TryGetProperty("input", out var input))
            {
                _inputs[operation.Name] = input.GetProperty("shape").GetString()!;
            }
            if (operation.Value.TryGetProperty("output", out var output))
            {
                _outputs[operation.Name] = output.GetProperty("shape").GetString()!;
            }
        }
    }

    public string TargetPrefix { get; }
    public string SigningName { get; }
    public IEnumerable<string> Operations => _inputs.Keys;

    public bool Knows(string operation) => _inputs.ContainsKey(operation);

    /// <summary>Every problem, in AWS's words ("Value … at 'a.b' failed to satisfy constraint: …").</summary>
    public IReadOnlyList<string> Validate(string operation, JsonElement body)
    {
        var problems = new List<string>();
        Check(_inputs[operation], body, "", problems);
        return problems;
    }

    /// <summary>What in an answer to <paramref name="operation"/> the model does not allow (nothing for an operation without output).</summary>
    public IReadOnlyList<string> ValidateAnswer(string operation, JsonElement answer)
    {
        var problems = new List<string>();
        if (_outputs.TryGetValue(operation, out var shape))
        {
            Check(shape, answer, "", problems);
        }
        return problems;
    }

    private void Check(string shapeName, JsonElement value, string path, List<string> problems)
    {
        var shape = _shapes.GetProperty(shapeName);
        var type = shape.GetProperty("type").GetString();
        switch (type)
        {
            case "structure":
                if (value.ValueKind != JsonValueKind.Object)
                {
                    problems.Add($"Value at '{Show(path)}' failed to satisfy constraint: Member must be a structure");
                    return;
                }
                var members = shape.GetProperty("members");
                if (shape.TryGetProperty("required", out var required))
                {
                    foreach (var name in required.EnumerateArray().Select(r => r.GetString()!))
                    {
                        if (!value.TryGetProperty(name, out var present) || present.ValueKind == JsonValueKind.Null)
                        {
                            problems.Add($"Value null at '{Join(path, name)}' failed to satisfy constraint: Member must not be null");
                        }
                    }
                }
                foreach (var property in value.EnumerateObject())
                {
                    if (!members.TryGetProperty(property.Name, out var member))
                    {
                        problems.Add($"Unknown member '{Join(path, property.Name)}'");
                        continue;
                    }
                    if (property.Value.ValueKind != JsonValueKind.Null)
                    {
                        Check(member.GetProperty("shape").GetString()!, property.Value, Join(path, property.Name), problems);
                    }
                }
                return;
            case "list":
                if (value.ValueKind != JsonValueKind.Array)
                {
                    problems.Add($"Value at '{Show(path)}' failed to satisfy constraint: Member must be a list");
                    return;
                }
                Count(shape, value.GetArrayLength(), path, problems);
                var item = shape.GetProperty("member").GetProperty("shape").GetString()!;
                var index = 1;
                foreach (var element in value.EnumerateArray())
                {
                    Check(item, element, $"{path}.{index++}.member", problems);
                }
                return;
            case "map":
                if (value.ValueKind != JsonValueKind.Object)
                {
                    problems.Add($"Value at '{Show(path)}' failed to satisfy constraint: Member must be a map");
                    return;
                }
                Count(shape, value.EnumerateObject().Count(), path, problems);
                var keyShape = shape.GetProperty("key").GetProperty("shape").GetString()!;
                var valueShape = shape.GetProperty("value").GetProperty("shape").GetString()!;
                foreach (var entry in value.EnumerateObject())
                {
                    using var key = JsonDocument.Parse(JsonSerializer.Serialize(entry.Name));
                    Check(keyShape, key.RootElement, $"{path}.{entry.Name}.key", problems);
                    Check(valueShape, entry.Value, $"{path}.{entry.Name}.value", problems);
                }
                return;
            case "string":
                if (value.ValueKind != JsonValueKind.String)
                {
                    problems.Add($"Value at '{Show(path)}' failed to satisfy constraint: Member must be a string");
                    return;
                }
                var text = value.GetString()!;
                if (shape.TryGetProperty("enum", out var allowed) && !allowed.EnumerateArray().Any(a => a.GetString() == text))
                {
                    problems.Add($"Value '{text}' at '{Show(path)}' failed to satisfy constraint: Member must satisfy enum value set: [{string.Join(", ", allowed.EnumerateArray().Select(a => a.GetString()))}]");
                }
                var length = text.EnumerateRunes().Count();
                if (shape.TryGetProperty("min", out var minLength) && length < minLength.GetInt64())
                {
                    problems.Add($"Value '{text}' at '{Show(path)}' failed to satisfy constraint: Member must have length greater than or equal to {minLength.GetInt64()}");
                }
                if (shape.TryGetProperty("max", out var maxLength) && length > maxLength.GetInt64())
                {
                    problems.Add($"Value '{text}' at '{Show(path)}' failed to satisfy constraint: Member must have length less than or equal to {maxLength.GetInt64()}");
                }
                if (shape.TryGetProperty("pattern", out var pattern) && Pattern(pattern.GetString()!) is { } regex && !regex.IsMatch(text))
                {
                    problems.Add($"Value '{text}' at '{Show(path)}' failed to satisfy constraint: Member must satisfy regular expression pattern: {pattern.GetString()}");
                }
                return;
            case "integer" or "long":
                if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt64(out var whole))
                {
                    problems.Add($"Value at '{Show(path)}' failed to satisfy constraint: Member must be an integer");
                    return;
                }
                Range(shape, whole, path, problems);
                return;
            case "double" or "float":
                // JSON 1.1 sends the values a JSON number cannot hold as strings.
                if (value.ValueKind == JsonValueKind.String && value.GetString() is "NaN" or "Infinity" or "-Infinity")
                {
                    return;
                }
                if (value.ValueKind != JsonValueKind.Number)
                {
                    problems.Add($"Value at '{Show(path)}' failed to satisfy constraint: Member must be a number");
                    return;
                }
                Range(shape, value.GetDouble(), path, problems);
                return;
            case "boolean":
                if (value.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
                {
                    problems.Add($"Value at '{Show(path)}' failed to satisfy constraint: Member must be a boolean");
                }
                return;
            case "timestamp":
                // JSON 1.1 sends timestamps as epoch seconds (a number).
                if (value.ValueKind != JsonValueKind.Number)
                {
                    problems.Add($"Value at '{Show(path)}' failed to satisfy constraint: Member must be a timestamp in epoch seconds");
                }
                return;
            default:
                return;
        }
    }

    private static void Count(JsonElement shape, int count, string path, List<string> problems)
    {
        if (shape.TryGetProperty("min", out var min) && count < min.GetInt64())
        {
            problems.Add($"Value at '{Show(path)}' failed to satisfy constraint: Member must have length greater than or equal to {min.GetInt64()}");
        }
        if (shape.TryGetProperty("max", out var max) && count > max.GetInt64())
        {
            problems.Add($"Value at '{Show(path)}' failed to satisfy constraint: Member must have length less than or equal to {max.GetInt64()}");
        }
    }

    private static void Range(JsonElement shape, double number, string path, List<string> problems)
    {
        var shown = number.ToString(CultureInfo.InvariantCulture);
        if (shape.TryGetProperty("min", out var min) && number < min.GetDouble())
        {
            problems.Add($"Value '{shown}' at '{Show(path)}' failed to satisfy constraint: Member must have value greater than or equal to {min.GetRawText()}");
        }
        if (shape.TryGetProperty("max", out var max) && number > max.GetDouble())
        {
            problems.Add($"Value '{shown}' at '{Show(path)}' failed to satisfy constraint: Member must have value less than or equal to {max.GetRawText()}");
        }
    }

    /// <summary>Model patterns are Java regular expressions matched against the whole value.</summary>
    private Regex? Pattern(string pattern)
    {
        lock (_patterns)
        {
            if (!_patterns.TryGetValue(pattern, out var regex))
            {
                try
                {
                    regex = new Regex($"^(?:{pattern})$", RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));
                }
                catch (ArgumentException)
                {
                    regex = null;
                }
                _patterns[pattern] = regex;
            }
            return regex;
        }
    }

    private static string Join(string path, string member) =>
        path.Length == 0 ? LowerFirst(member) : $"{path}.{LowerFirst(member)}";

    private static string LowerFirst(string name) => name.Length == 0 ? name : char.ToLowerInvariant(name[0]) + name[1..];

    private static string Show(string path) => path.Length == 0 ? "(body)" : path;
}
