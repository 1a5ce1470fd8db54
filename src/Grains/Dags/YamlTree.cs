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

    // DAG files are shallow; the limit keeps a hostile API body from overflowing the stack of a silo.
    private const int MaxDepth = 64;

    public static YamlLoadResult Load(string text)
    {
        var parser = new Parser(new StringReader(text));
        var state = new LoadState();
        var problems = state.Problems;
        YamlNode? root = null;
        try
        {
            parser.Consume<StreamStart>();
            var documents = 0;
            while (parser.TryConsume<DocumentStart>(out var start))
            {
                documents++;
                var node = ReadNode(parser, state, 0);
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
            var line = ex.Start.Line > 0 ? LineOf(ex.Start) : state.LastLine;
            return new YamlLoadResult(null, Math.Max(1, line), CleanMessage(ex), problems);
        }
        catch (Exception ex) when (ex is InvalidOperationException or ArgumentException)
        {
            // YamlDotNet's scanner throws these on a few malformed inputs (e.g. an empty anchor name at the end).
            return new YamlLoadResult(null, Math.Max(1, state.LastLine), "the text cannot be read as YAML here", problems);
        }
        return new YamlLoadResult(root, 0, null, problems);
    }

    private static YamlNode ReadNode(IParser parser, LoadState state, int depth)
    {
        // YamlDotNet ends the event stream without an error on a few malformed inputs (e.g. "[a&" at the end).
        var current = parser.Current ?? throw new YamlException("the file ends in the middle of a value");
        state.LastLine = LineOf(current.Start);
        if (depth > MaxDepth)
        {
            throw new YamlException(current.Start, current.End, $"nested more than {MaxDepth} levels deep");
        }
        if (parser.TryConsume<AnchorAlias>(out var alias))
        {
            if (state.Anchors.TryGetValue(alias.Value.Value, out var target))
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
                items.Add(ReadNode(parser, state, depth + 1));
            }
            node = new YamlSequence(LineOf(sequenceStart.Start), items);
        }
        else
        {
            var mappingStart = parser.Consume<MappingStart>();
            anchor = mappingStart.Anchor;
            node = ReadMapping(parser, LineOf(mappingStart.Start), state, depth + 1);
        }

        if (!anchor.IsEmpty)
        {
            state.Anchors[anchor.Value] = node;
        }
        return node;
    }

    private static YamlMapping ReadMapping(IParser parser, int line, LoadState state, int depth)
    {
        var entries = new List<YamlEntry>();
        var merged = new List<YamlMapping>();
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        var duplicates = new List<(YamlScalar, int)>();
        while (!parser.TryConsume<MappingEnd>(out _))
        {
            var keyNode = ReadNode(parser, state, depth);
            var value = ReadNode(parser, state, depth);
            if (keyNode is not YamlScalar key)
            {
                state.Problems.Add((keyNode.Line, "keys must be plain text, not lists or maps"));
                continue;
            }
            if (key.Value == MergeKey)
            {
                CollectMerge(value, merged, state.Problems);
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

    private sealed class LoadState
    {
        public Dictionary<string, YamlNode> Anchors { get; } = new(StringComparer.Ordinal);

        public List<(int, string)> Problems { get; } = [];

        /// <summary>Where reading got to, for errors that come without a position.</summary>
        public int LastLine { get; set; } = 1;
    }
}
