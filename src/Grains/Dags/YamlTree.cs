using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace Batchyard.Dags;

/// <summary>
/// A YAML node with the line it starts on. We build our own tree from parser events, rather than use
/// YamlDotNet's representation model, because that model throws on the first duplicate key and we want to
/// report every duplicate with both lines.
/// </summary>
internal abstract record YamlNode(int Line);

internal sealed record YamlScalar(int Line, string Value, bool IsNull) : YamlNode(Line);

internal sealed record YamlSequence(int Line, IReadOnlyList<YamlNode> Items) : YamlNode(Line);

internal sealed record YamlEntry(YamlScalar Key, YamlNode Value);

/// <summary>A map; <see cref="Duplicates"/> holds keys written again after their first line (left out of <see cref="Entries"/>).</summary>
internal sealed record YamlMapping(int Line, IReadOnlyList<YamlEntry> Entries, IReadOnlyList<(YamlScalar Key, int FirstLine)> Duplicates) : YamlNode(Line)
{
    /// <summary>The entry with this key, or null.</summary>
    public YamlEntry? Find(string key)
    {
        foreach (var entry in Entries)
        {
            if (entry.Key.Value == key)
            {
                return entry;
            }
        }
        return null;
    }
}

/// <summary>What the loader found: the root node of the single document, or a syntax error.</summary>
internal sealed record YamlLoadResult(YamlNode? Root, int ErrorLine, string? Error, IReadOnlyList<(int Line, string Message)> Problems);

internal static class YamlTree
{
    private const string MergeKey = "<<";

    public static YamlLoadResult Load(string text)
    {
        var problems = new List<(int, string)>();
        var parser = new Parser(new StringReader(text));
        var anchors = new Dictionary<string, YamlNode>(StringComparer.Ordinal);
        YamlNode? root = null;
        try
        {
            parser.Consume<StreamStart>();
            var documents = 0;
            while (parser.TryConsume<DocumentStart>(out var start))
            {
                documents++;
                var node = ReadNode(parser, anchors, problems);
                parser.Consume<DocumentEnd>();
                if (documents == 1)
                {
                    root = node;
                }
                else if (documents == 2)
                {
                    problems.Add((LineOf(start.Start), "a DAG file holds one YAML document; found another here"));
                }
            }
            parser.Consume<StreamEnd>();
        }
        catch (YamlException ex)
        {
            return new YamlLoadResult(null, Math.Max(1, LineOf(ex.Start)), CleanMessage(ex), problems);
        }
        return new YamlLoadResult(root, 0, null, problems);
    }

    private static YamlNode ReadNode(IParser parser, Dictionary<string, YamlNode> anchors, List<(int, string)> problems)
    {
        if (parser.TryConsume<AnchorAlias>(out var alias))
        {
            if (anchors.TryGetValue(alias.Value.Value, out var target))
            {
                return target;
            }
            throw new YamlException(alias.Start, alias.End, $"unknown alias '*{alias.Value.Value}'");
        }

        YamlNode node;
        AnchorName anchor;
        if (parser.TryConsume<Scalar>(out var scalar))
        {
            anchor = scalar.Anchor;
            node = new YamlScalar(LineOf(scalar.Start), scalar.Value, IsNull(scalar));
        }
        else if (parser.TryConsume<SequenceStart>(out var sequenceStart))
        {
            anchor = sequenceStart.Anchor;
            var items = new List<YamlNode>();
            while (!parser.TryConsume<SequenceEnd>(out _))
            {
                items.Add(ReadNode(parser, anchors, problems));
            }
            node = new YamlSequence(LineOf(sequenceStart.Start), items);
        }
        else
        {
            var mappingStart = parser.Consume<MappingStart>();
            anchor = mappingStart.Anchor;
            node = ReadMapping(parser, LineOf(mappingStart.Start), anchors, problems);
        }

        if (!anchor.IsEmpty)
        {
            anchors[anchor.Value] = node;
        }
        return node;
    }

    private static YamlMapping ReadMapping(IParser parser, int line, Dictionary<string, YamlNode> anchors, List<(int, string)> problems)
    {
        var entries = new List<YamlEntry>();
        var merged = new List<YamlMapping>();
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        var duplicates = new List<(YamlScalar, int)>();
        while (!parser.TryConsume<MappingEnd>(out _))
        {
            var keyNode = ReadNode(parser, anchors, problems);
            var value = ReadNode(parser, anchors, problems);
            if (keyNode is not YamlScalar key)
            {
                problems.Add((keyNode.Line, "keys must be plain text, not lists or maps"));
                continue;
            }
            if (key.Value == MergeKey)
            {
                CollectMerge(value, merged, problems);
                continue;
            }
            if (seen.TryGetValue(key.Value, out var firstLine))
            {
                duplicates.Add((key, firstLine));
                continue;
            }
            seen.Add(key.Value, key.Line);
            entries.Add(new YamlEntry(key, value));
        }

        // YAML merge keys (`<<: *base`): keys written in the mapping itself win over merged ones.
        foreach (var source in merged)
        {
            foreach (var entry in source.Entries)
            {
                if (seen.TryAdd(entry.Key.Value, entry.Key.Line))
                {
                    entries.Add(entry);
                }
            }
        }
        return new YamlMapping(line, entries, duplicates);
    }

    private static void CollectMerge(YamlNode value, List<YamlMapping> merged, List<(int, string)> problems)
    {
        switch (value)
        {
            case YamlMapping mapping:
                merged.Add(mapping);
                break;
            case YamlSequence sequence:
                foreach (var item in sequence.Items)
                {
                    CollectMerge(item, merged, problems);
                }
                break;
            default:
                problems.Add((value.Line, "'<<' must merge a map or a list of maps"));
                break;
        }
    }

    // Only an unquoted empty, '~' or 'null' is YAML's null; "" written in quotes is an empty string.
    private static bool IsNull(Scalar scalar) =>
        scalar.Style is ScalarStyle.Plain or ScalarStyle.Any
        && scalar.Value is "" or "~" or "null" or "Null" or "NULL";

    private static int LineOf(Mark mark) => (int)mark.Line;

    private static string CleanMessage(YamlException ex)
    {
        var message = ex.Message;
        // Older YamlDotNet messages start with "(Line: 3, Col: 5, Idx: 20) - (Line: ...): "; the line is reported separately.
        var marker = message.IndexOf("): ", StringComparison.Ordinal);
        if (message.StartsWith("(Line:", StringComparison.Ordinal) && marker >= 0)
        {
            message = message[(marker + 3)..];
        }
        return message.Trim();
    }
}
