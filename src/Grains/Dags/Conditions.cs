using System.Collections.Immutable;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Batchyard.Dags;

/// <summary>A <c>when:</c> expression that cannot be read, or can never give true or false: the DAG file is refused.</summary>
public sealed class ConditionSyntaxException : Exception
{
    public ConditionSyntaxException()
    {
    }

    public ConditionSyntaxException(string message)
        : base(message)
    {
    }

    public ConditionSyntaxException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>
/// The rendered values of a <c>when:</c> expression do not fit its operators (a number ordered against a
/// string, a string where true or false is needed); only a run can tell, so this surfaces at evaluation.
/// </summary>
public sealed class ConditionEvaluationException : Exception
{
    public ConditionEvaluationException()
    {
    }

    public ConditionEvaluationException(string message)
        : base(message)
    {
    }

    public ConditionEvaluationException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>
/// A task's <c>when:</c> condition, parsed once when the DAG file is loaded and evaluated when the task becomes
/// ready. It only compares and combines values, so a DAG file can gate a task on an upstream output or a
/// parameter without any code running.
/// </summary>
/// <remarks>
/// <para>Loosest first: <c>or</c>, <c>and</c>, prefix <c>not</c>, one comparison (<c>== != &lt; &lt;= &gt; &gt;=</c>;
/// <c>a &lt; b &lt; c</c> is refused), then operands: JSON numbers, single- or double-quoted strings (a backslash
/// escapes a quote or a backslash, nothing else), <c>true</c>, <c>false</c>, <c>null</c>, <c>{{ name }}</c>
/// placeholders and parentheses. Keywords are lowercase. A placeholder inside a quoted string is plain text, so
/// <c>'{{ x }}'</c> is that literal string and is neither listed nor rendered.</para>
/// <para>Numbers are compared as <see cref="double"/>: outputs are JSON, whose readers mostly do the same, and
/// digits past double precision (integers above 2^53) are lost rather than refused. Strings compare ordinally.
/// <c>==</c> and <c>!=</c> across types are simply false and true; ordering across types, or of booleans and
/// null, is an error.</para>
/// </remarks>
public sealed class Condition
{
    /// <summary>Longest expression accepted, so a hostile DAG file cannot make loading expensive.</summary>
    public const int MaxLength = 4096;

    /// <summary>Deepest nesting of parentheses and <c>not</c> accepted, so parsing and evaluation cannot exhaust the stack.</summary>
    public const int MaxDepth = 64;

    private readonly ConditionNode root;

    private Condition(string text, ConditionNode root, ImmutableArray<string> placeholders)
    {
        Text = text;
        this.root = root;
        Placeholders = placeholders;
    }

    public string Text { get; }

    /// <summary>Each placeholder's name, trimmed, in order of appearance (repeats included), for the loader to check by its own rules.</summary>
    public IReadOnlyList<string> Placeholders { get; }

    public static Condition Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var (root, placeholders) = ConditionParser.Parse(text);
        return new Condition(text, root, placeholders);
    }

    /// <summary>
    /// Evaluates with <paramref name="render"/> giving each placeholder's rendered text; it is called only for the
    /// placeholders reached (<c>and</c> and <c>or</c> stop early), and whatever it throws propagates.
    /// </summary>
    public bool Evaluate(Func<string, string> render)
    {
        ArgumentNullException.ThrowIfNull(render);
        var value = root.Evaluate(render);
        return value.Kind == ConditionValueKind.Boolean
            ? value.Boolean
            : throw new ConditionEvaluationException($"when: the condition is {value.DescribeAsResult()}, not true or false");
    }

    public override string ToString() => Text;
}

internal enum ConditionValueKind
{
    Null,
    Boolean,
    Number,
    String,
}

/// <summary>
/// A typed value; <see cref="Text"/> is a number's own spelling or a string's content, and
/// <see cref="Placeholder"/> names where a rendered value came from, for messages.
/// </summary>
internal readonly record struct ConditionValue(ConditionValueKind Kind, bool Boolean, double Number, string Text, string? Placeholder)
{
    private const int ShownLength = 40;

    public static readonly ConditionValue Null = new(ConditionValueKind.Null, false, 0, "", null);

    public static ConditionValue Of(bool value) => new(ConditionValueKind.Boolean, value, 0, "", null);

    public static ConditionValue OfNumber(double value, string text) => new(ConditionValueKind.Number, false, value, text, null);

    public static ConditionValue OfString(string value) => new(ConditionValueKind.String, false, 0, value, null);

    /// <summary>Types rendered text the way a DAG author reads it: JSON scalars are typed, anything else (objects and lists too) is a string.</summary>
    public static ConditionValue FromRendered(string? rendered, string placeholder)
    {
        var text = (rendered ?? "").Trim();
        var value = text switch
        {
            "" or "null" => Null,
            "true" => Of(true),
            "false" => Of(false),
            _ when ConditionLexer.TryParseNumber(text, out var number) => OfNumber(number, text),
            _ => OfString(text),
        };
        return value with { Placeholder = placeholder };
    }

    public static bool AreEqual(ConditionValue left, ConditionValue right) =>
        left.Kind == right.Kind && left.Kind switch
        {
            ConditionValueKind.Null => true,
            ConditionValueKind.Boolean => left.Boolean == right.Boolean,
            ConditionValueKind.Number => left.Number == right.Number,
            _ => string.Equals(left.Text, right.Text, StringComparison.Ordinal),
        };

    /// <summary>Reads as <c>number 0.93</c>, <c>string 'abc' from {{ params.x }}</c> or <c>null</c>.</summary>
    public string Describe() =>
        (Kind == ConditionValueKind.Null ? "null" : $"{Noun} {Shown}") + (Placeholder is null ? "" : $" from {{{{ {Placeholder} }}}}");

    /// <summary>Reads as <c>a string ('yes')</c> or <c>null</c>, for the whole condition's result.</summary>
    public string DescribeAsResult()
    {
        var from = $"from {{{{ {Placeholder} }}}}";
        return (Kind, Placeholder) switch
        {
            (ConditionValueKind.Null, null) => "null",
            (ConditionValueKind.Null, _) => $"null ({from})",
            (_, null) => $"a {Noun} ({Shown})",
            _ => $"a {Noun} ({Shown} {from})",
        };
    }

    private string Noun => Kind switch
    {
        ConditionValueKind.Boolean => "boolean",
        ConditionValueKind.Number => "number",
        _ => "string",
    };

    private string Shown => Kind switch
    {
        ConditionValueKind.Boolean => Boolean ? "true" : "false",
        ConditionValueKind.Number => Shorten(Text),
        _ => $"'{Shorten(Text)}'",
    };

    /// <summary>Cuts a long value or token for messages: a rendered output may be 64 KiB.</summary>
    public static string Shorten(string text) => text.Length <= ShownLength ? text : string.Concat(text.AsSpan(0, ShownLength), "…");
}

internal abstract class ConditionNode
{
    /// <summary>The kind every evaluation gives, when known without rendering anything (null for a placeholder).</summary>
    public virtual ConditionValueKind? StaticKind => ConditionValueKind.Boolean;

    public abstract ConditionValue Evaluate(Func<string, string> render);
}

internal sealed class LiteralNode(ConditionValue value) : ConditionNode
{
    public ConditionValue Value => value;

    public override ConditionValueKind? StaticKind => value.Kind;

    public override ConditionValue Evaluate(Func<string, string> render) => value;
}

internal sealed class PlaceholderNode(string name) : ConditionNode
{
    public override ConditionValueKind? StaticKind => null;

    public override ConditionValue Evaluate(Func<string, string> render) => ConditionValue.FromRendered(render(name), name);
}

internal sealed class NotNode(ConditionNode operand) : ConditionNode
{
    public override ConditionValue Evaluate(Func<string, string> render)
    {
        var value = operand.Evaluate(render);
        return value.Kind == ConditionValueKind.Boolean
            ? ConditionValue.Of(!value.Boolean)
            : throw new ConditionEvaluationException($"when: 'not' needs true or false, not {value.Describe()}");
    }
}

/// <summary>A chain of <c>and</c> (or of <c>or</c>) kept flat, so a long chain does not deepen the tree.</summary>
internal sealed class LogicalNode(bool isAnd, ImmutableArray<ConditionNode> operands) : ConditionNode
{
    public override ConditionValue Evaluate(Func<string, string> render)
    {
        foreach (var operand in operands)
        {
            var value = operand.Evaluate(render);
            if (value.Kind != ConditionValueKind.Boolean)
            {
                throw new ConditionEvaluationException($"when: '{(isAnd ? "and" : "or")}' needs true or false on each side, not {value.Describe()}");
            }
            if (value.Boolean != isAnd)
            {
                return value;
            }
        }
        return ConditionValue.Of(isAnd);
    }
}

internal sealed class ComparisonNode(ConditionTokenKind op, string symbol, ConditionNode left, ConditionNode right) : ConditionNode
{
    public override ConditionValue Evaluate(Func<string, string> render)
    {
        var l = left.Evaluate(render);
        var r = right.Evaluate(render);
        return ConditionValue.Of(op switch
        {
            ConditionTokenKind.Equal => ConditionValue.AreEqual(l, r),
            ConditionTokenKind.NotEqual => !ConditionValue.AreEqual(l, r),
            ConditionTokenKind.Less => Order(l, r) < 0,
            ConditionTokenKind.LessOrEqual => Order(l, r) <= 0,
            ConditionTokenKind.Greater => Order(l, r) > 0,
            _ => Order(l, r) >= 0,
        });
    }

    private int Order(ConditionValue l, ConditionValue r) => (l.Kind, r.Kind) switch
    {
        (ConditionValueKind.Number, ConditionValueKind.Number) => l.Number.CompareTo(r.Number),
        (ConditionValueKind.String, ConditionValueKind.String) => string.CompareOrdinal(l.Text, r.Text),
        _ => throw new ConditionEvaluationException($"when: cannot compare {l.Describe()} with {r.Describe()} using '{symbol}'"),
    };
}

internal enum ConditionTokenKind
{
    End,
    Number,
    String,
    True,
    False,
    Null,
    Placeholder,
    Open,
    Close,
    And,
    Or,
    Not,
    Equal,
    NotEqual,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
}

/// <summary>One token; <see cref="Value"/> is a string's unescaped content, a placeholder's name or a number's spelling.</summary>
internal readonly record struct ConditionToken(ConditionTokenKind Kind, int Start, int Length, string Value = "", double Number = 0)
{
    public int Column => Start + 1;

    public bool IsComparison => Kind >= ConditionTokenKind.Equal;
}

internal static partial class ConditionLexer
{
    [GeneratedRegex(@"^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?\z", RegexOptions.CultureInvariant)]
    private static partial Regex JsonNumber();

    /// <summary>JSON's number syntax read as the nearest double; beyond double's range it becomes an infinity, which still orders.</summary>
    public static bool TryParseNumber(string text, out double value)
    {
        value = 0;
        return JsonNumber().IsMatch(text) && double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out value);
    }

    public static List<ConditionToken> Tokenize(string text)
    {
        var tokens = new List<ConditionToken>();
        var at = 0;
        while (true)
        {
            while (at < text.Length && char.IsWhiteSpace(text[at]))
            {
                at++;
            }
            if (at == text.Length)
            {
                tokens.Add(new ConditionToken(ConditionTokenKind.End, at, 0));
                return tokens;
            }
            var token = Next(text, at);
            tokens.Add(token);
            at += token.Length;
        }
    }

    private static ConditionToken Next(string text, int start)
    {
        var c = text[start];
        var next = start + 1 < text.Length ? text[start + 1] : '\0';
        switch (c)
        {
            case '(':
                return new(ConditionTokenKind.Open, start, 1);
            case ')':
                return new(ConditionTokenKind.Close, start, 1);
            case '=' when next == '=':
                return new(ConditionTokenKind.Equal, start, 2);
            case '!' when next == '=':
                return new(ConditionTokenKind.NotEqual, start, 2);
            case '<':
                return next == '=' ? new(ConditionTokenKind.LessOrEqual, start, 2) : new(ConditionTokenKind.Less, start, 1);
            case '>':
                return next == '=' ? new(ConditionTokenKind.GreaterOrEqual, start, 2) : new(ConditionTokenKind.Greater, start, 1);
            case '\'' or '"':
                return QuotedString(text, start);
            case '{' when next == '{':
                return Placeholder(text, start);
        }
        if (c == '-' || char.IsAsciiDigit(c))
        {
            return Number(text, start);
        }
        if (char.IsLetter(c) || c == '_')
        {
            return Word(text, start);
        }
        var hint = c switch
        {
            '=' => " (compare with '==')",
            '!' => " (negate with 'not')",
            '&' => " (join with 'and')",
            '|' => " (join with 'or')",
            _ => "",
        };
        throw ConditionParser.Error($"unexpected character '{c}' at column {start + 1}{hint}");
    }

    private static ConditionToken QuotedString(string text, int start)
    {
        var quote = text[start];
        var value = new StringBuilder();
        for (var at = start + 1; at < text.Length; at++)
        {
            var c = text[at];
            if (c == quote)
            {
                return new(ConditionTokenKind.String, start, at + 1 - start, value.ToString());
            }
            if (c == '\\' && at + 1 < text.Length)
            {
                c = text[++at];
                if (c is not ('\'' or '"' or '\\'))
                {
                    throw ConditionParser.Error($"unknown escape '\\{c}' at column {at} (a backslash escapes only a quote or a backslash)");
                }
            }
            value.Append(c);
        }
        throw ConditionParser.Error($"unterminated string starting at column {start + 1}");
    }

    private static ConditionToken Placeholder(string text, int start)
    {
        var close = text.IndexOf("}}", start + 2, StringComparison.Ordinal);
        if (close < 0)
        {
            throw ConditionParser.Error($"unclosed '{{{{' at column {start + 1}");
        }
        var name = text[(start + 2)..close].Trim();
        return name.Length > 0
            ? new(ConditionTokenKind.Placeholder, start, close + 2 - start, name)
            : throw ConditionParser.Error($"empty placeholder '{{{{ }}}}' at column {start + 1}");
    }

    private static ConditionToken Number(string text, int start)
    {
        var end = start + 1;
        while (end < text.Length && (char.IsLetterOrDigit(text[end]) || text[end] is '.' or '_' || (text[end] is '+' or '-' && text[end - 1] is 'e' or 'E')))
        {
            end++;
        }
        var spelling = text[start..end];
        return TryParseNumber(spelling, out var number)
            ? new(ConditionTokenKind.Number, start, end - start, spelling, number)
            : throw ConditionParser.Error($"malformed number '{spelling}' at column {start + 1}");
    }

    private static ConditionToken Word(string text, int start)
    {
        var end = start + 1;
        while (end < text.Length && (char.IsLetterOrDigit(text[end]) || text[end] is '_' or '-' or '.'))
        {
            end++;
        }
        var word = text[start..end];
        ConditionTokenKind? keyword = word switch
        {
            "and" => ConditionTokenKind.And,
            "or" => ConditionTokenKind.Or,
            "not" => ConditionTokenKind.Not,
            "true" => ConditionTokenKind.True,
            "false" => ConditionTokenKind.False,
            "null" => ConditionTokenKind.Null,
            _ => null,
        };
        if (keyword is { } kind)
        {
            return new(kind, start, end - start);
        }
        var lower = word.ToLowerInvariant();
        var hint = lower is "and" or "or" or "not" or "true" or "false" or "null"
            ? $"keywords are lowercase: '{lower}'"
            : word.Contains('.', StringComparison.Ordinal) ? $"a value is written {{{{ {word} }}}}" : $"quote strings: '{word}'";
        throw ConditionParser.Error($"unknown word '{word}' at column {start + 1} ({hint})");
    }
}

/// <summary>
/// Recursive descent over the tokens. Besides syntax it refuses what literals alone show can never evaluate
/// (<c>3 and {{ x }}</c>, <c>{{ x }} &lt; true</c>), so such a DAG file fails at load rather than at run time.
/// </summary>
internal sealed class ConditionParser
{
    private readonly string text;
    private readonly List<ConditionToken> tokens;
    private readonly ImmutableArray<string>.Builder placeholders = ImmutableArray.CreateBuilder<string>();
    private int position;
    private int depth;

    private ConditionParser(string text)
    {
        this.text = text;
        tokens = ConditionLexer.Tokenize(text);
    }

    private ConditionToken Peek => tokens[position];

    public static ConditionSyntaxException Error(string what) => new($"when: {what}");

    public static (ConditionNode Root, ImmutableArray<string> Placeholders) Parse(string text)
    {
        if (text.Length > Condition.MaxLength)
        {
            throw Error($"the condition is {text.Length} characters long; at most {Condition.MaxLength} are allowed");
        }
        var parser = new ConditionParser(text);
        if (parser.Peek.Kind == ConditionTokenKind.End)
        {
            throw Error("the condition is empty");
        }
        var root = parser.ParseOr();
        if (parser.Peek.Kind != ConditionTokenKind.End)
        {
            throw parser.Peek.Kind == ConditionTokenKind.Close
                ? Error($"unmatched ')' at column {parser.Peek.Column}")
                : parser.Unexpected("'and', 'or' or a comparison");
        }
        if (root is LiteralNode { Value: var value } && value.Kind != ConditionValueKind.Boolean)
        {
            throw Error($"the condition is {value.DescribeAsResult()}, not true or false");
        }
        return (root, parser.placeholders.ToImmutable());
    }

    private ConditionToken Next() => tokens[position++];

    private string Source(ConditionToken token) => text.Substring(token.Start, token.Length);

    /// <summary>A token as quoted in messages: a string token shows its own quotes, a long one is cut.</summary>
    private string Quoted(ConditionToken token)
    {
        var source = ConditionValue.Shorten(Source(token));
        return token.Kind == ConditionTokenKind.String ? source : $"'{source}'";
    }

    private ConditionSyntaxException Unexpected(string expected) =>
        Error($"unexpected {Quoted(Peek)} at column {Peek.Column} (expected {expected})");

    private ConditionNode ParseOr() => ParseLogical(ConditionTokenKind.Or, ParseAnd);

    private ConditionNode ParseAnd() => ParseLogical(ConditionTokenKind.And, ParseNot);

    private ConditionNode ParseLogical(ConditionTokenKind kind, Func<ConditionNode> parseOperand)
    {
        var first = parseOperand();
        if (Peek.Kind != kind)
        {
            return first;
        }
        var operands = ImmutableArray.CreateBuilder<ConditionNode>();
        operands.Add(RequireBoolean(first, Peek));
        while (Peek.Kind == kind)
        {
            var op = Next();
            operands.Add(RequireBoolean(parseOperand(), op));
        }
        return new LogicalNode(kind == ConditionTokenKind.And, operands.ToImmutable());
    }

    private ConditionNode ParseNot()
    {
        if (Peek.Kind != ConditionTokenKind.Not)
        {
            return ParseComparison();
        }
        var op = Next();
        Enter(op);
        var operand = RequireBoolean(ParseNot(), op);
        depth--;
        return new NotNode(operand);
    }

    private ConditionNode ParseComparison()
    {
        var left = ParsePrimary();
        if (!Peek.IsComparison)
        {
            return left;
        }
        var op = Next();
        var right = ParsePrimary();
        if (Peek.IsComparison)
        {
            throw Error($"comparisons do not chain: '{Source(Peek)}' at column {Peek.Column} follows another comparison (join them with 'and')");
        }
        var symbol = Source(op);
        if (op.Kind is not (ConditionTokenKind.Equal or ConditionTokenKind.NotEqual))
        {
            CheckOrdered(op, symbol, left, right);
        }
        return new ComparisonNode(op.Kind, symbol, left, right);
    }

    private ConditionNode ParsePrimary()
    {
        var token = Peek;
        switch (token.Kind)
        {
            case ConditionTokenKind.Number:
                return Literal(ConditionValue.OfNumber(token.Number, token.Value));
            case ConditionTokenKind.String:
                return Literal(ConditionValue.OfString(token.Value));
            case ConditionTokenKind.True or ConditionTokenKind.False:
                return Literal(ConditionValue.Of(token.Kind == ConditionTokenKind.True));
            case ConditionTokenKind.Null:
                return Literal(ConditionValue.Null);
            case ConditionTokenKind.Placeholder:
                Next();
                placeholders.Add(token.Value);
                return new PlaceholderNode(token.Value);
            case ConditionTokenKind.Open:
                Next();
                Enter(token);
                var inner = ParseOr();
                depth--;
                if (Peek.Kind == ConditionTokenKind.Close)
                {
                    Next();
                    return inner;
                }
                throw Peek.Kind == ConditionTokenKind.End
                    ? Error($"unclosed '(' opened at column {token.Column}")
                    : Unexpected("'and', 'or', a comparison or ')'");
            default:
                if (position == 0)
                {
                    throw Error($"expected an operand at column {token.Column}, found {Quoted(token)}");
                }
                var previous = tokens[position - 1];
                throw Error($"expected an operand after '{Source(previous)}' at column {previous.Column}");
        }
    }

    private LiteralNode Literal(ConditionValue value)
    {
        Next();
        return new LiteralNode(value);
    }

    private void Enter(ConditionToken token)
    {
        if (++depth > Condition.MaxDepth)
        {
            throw Error($"the condition nests deeper than {Condition.MaxDepth} levels at column {token.Column}");
        }
    }

    private ConditionNode RequireBoolean(ConditionNode operand, ConditionToken op)
    {
        if (operand is LiteralNode { Value: var value } && value.Kind != ConditionValueKind.Boolean)
        {
            var sides = op.Kind == ConditionTokenKind.Not ? "" : " on each side";
            throw Error($"'{Source(op)}' at column {op.Column} needs true or false{sides}, not {value.Describe()}");
        }
        return operand;
    }

    private void CheckOrdered(ConditionToken op, string symbol, ConditionNode left, ConditionNode right)
    {
        foreach (var side in (ReadOnlySpan<ConditionNode>)[left, right])
        {
            if (side.StaticKind is ConditionValueKind.Boolean or ConditionValueKind.Null)
            {
                var what = side.StaticKind == ConditionValueKind.Null ? "null" : "a boolean";
                throw Error($"'{symbol}' at column {op.Column} orders only numbers and strings, not {what}");
            }
        }
        if (left is LiteralNode { Value: var l } && right is LiteralNode { Value: var r } && l.Kind != r.Kind)
        {
            throw Error($"cannot compare {l.Describe()} with {r.Describe()} using '{symbol}' at column {op.Column}");
        }
    }
}
