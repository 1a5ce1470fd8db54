using Batchyard.Dags;

namespace Batchyard.Tests.Dags;

public sealed class ConditionTests
{
    private const string DesignDocExample = "{{ tasks.evaluate.output.auc }} >= 0.8 and {{ params.publish }} == 'yes'";

    private static Func<string, string> Values(params (string Name, string Value)[] values)
    {
        var byName = values.ToDictionary(pair => pair.Name, pair => pair.Value);
        return name => byName.TryGetValue(name, out var value) ? value : throw new KeyNotFoundException($"no value for '{name}'");
    }

    private static bool Evaluate(string text, params (string Name, string Value)[] values) => Condition.Parse(text).Evaluate(Values(values));

    private static bool EvaluateWithX(string text, string x) => Evaluate(text, ("x", x));

    [Theory]
    [InlineData("0.93", "yes", true)]
    [InlineData("0.8", "yes", true)]
    [InlineData("0.75", "yes", false)]
    [InlineData("0.93", "no", false)]
    public void Evaluate_DesignDocExample_IsTrueOnlyForAGoodAucAndPublishYes(string auc, string publish, bool expected) =>
        Assert.Equal(expected, Evaluate(DesignDocExample, ("tasks.evaluate.output.auc", auc), ("params.publish", publish)));

    [Fact]
    public void Parse_KeepsTheTextAndListsPlaceholdersTrimmedInOrder()
    {
        var condition = Condition.Parse(DesignDocExample);

        Assert.Equal(DesignDocExample, condition.Text);
        Assert.Equal<string>(["tasks.evaluate.output.auc", "params.publish"], condition.Placeholders);
    }

    [Fact]
    public void Placeholders_RepeatsIncluded_AndWhitespaceInsideBracesOptional() =>
        Assert.Equal<string>(["b", "a", "b"], Condition.Parse("{{b}} == {{   a }} or {{ b   }} == 1").Placeholders);

    [Fact]
    public void Placeholder_InsideAQuotedString_IsPlainText()
    {
        var condition = Condition.Parse("'{{ a }}' == {{ b }}");

        Assert.Equal<string>(["b"], condition.Placeholders);
        Assert.True(condition.Evaluate(Values(("b", "{{ a }}"))));
    }

    [Theory]
    [InlineData("not 1 == 2", true)]
    [InlineData("not 1 == 1", false)]
    [InlineData("true or false and false", true)]
    [InlineData("false and true or true", true)]
    [InlineData("not false and false", false)]
    [InlineData("not true or true", true)]
    public void Precedence_OrLoosest_ThenAnd_ThenNot_ThenComparison(string text, bool expected) =>
        Assert.Equal(expected, Evaluate(text));

    [Theory]
    [InlineData("(true or false) and false", false)]
    [InlineData("false and (true or true)", false)]
    [InlineData("not (true and false)", true)]
    [InlineData("((1 == 1))", true)]
    [InlineData("(1 < 2) == (2 < 1)", false)]
    public void Parentheses_Group(string text, bool expected) => Assert.Equal(expected, Evaluate(text));

    [Theory]
    [InlineData("1 < 2", true)]
    [InlineData("2 < 2", false)]
    [InlineData("2 <= 2", true)]
    [InlineData("3 <= 2", false)]
    [InlineData("3 > 2", true)]
    [InlineData("2 > 2", false)]
    [InlineData("2 >= 2", true)]
    [InlineData("1 >= 2", false)]
    [InlineData("2 == 2.0", true)]
    [InlineData("2 == 3", false)]
    [InlineData("2 != 3", true)]
    [InlineData("2 != 2", false)]
    [InlineData("1e3 == 1000", true)]
    [InlineData("2.5E-1 == 0.25", true)]
    [InlineData("-1 < 0", true)]
    [InlineData("-0 == 0", true)]
    [InlineData("10 > 9", true)]
    [InlineData("1e999 > 1e308", true)]
    public void Comparison_Numbers_CompareNumerically(string text, bool expected) => Assert.Equal(expected, Evaluate(text));

    [Fact]
    public void Comparison_Numbers_AreDoubles_SoDigitsPastDoublePrecisionAreLost() =>
        Assert.True(Evaluate("9007199254740993 == 9007199254740992"));

    [Theory]
    [InlineData("'a' < 'b'", true)]
    [InlineData("'b' < 'a'", false)]
    [InlineData("'abc' <= 'abc'", true)]
    [InlineData("'abd' <= 'abc'", false)]
    [InlineData("'b' > 'a'", true)]
    [InlineData("'a' > 'a'", false)]
    [InlineData("'a' >= 'a'", true)]
    [InlineData("'a' >= 'b'", false)]
    [InlineData("'B' < 'a'", true)]
    [InlineData("'10' < '9'", true)]
    [InlineData("'yes' == \"yes\"", true)]
    [InlineData("'yes' == 'Yes'", false)]
    [InlineData("'yes' != 'Yes'", true)]
    [InlineData("'' == ''", true)]
    public void Comparison_Strings_CompareOrdinally(string text, bool expected) => Assert.Equal(expected, Evaluate(text));

    [Theory]
    [InlineData(@"'it\'s' == ""it's""")]
    [InlineData(@"""say \""hi\"""" == 'say ""hi""'")]
    [InlineData(@"'a\""b' == 'a""b'")]
    [InlineData(@"'c:\\tmp' == {{ x }}")]
    public void QuotedStrings_BackslashEscapesAQuoteOrABackslash(string text) =>
        Assert.True(EvaluateWithX(text, @"c:\tmp"));

    [Theory]
    [InlineData("true == true", true)]
    [InlineData("true == false", false)]
    [InlineData("true != false", true)]
    [InlineData("null == null", true)]
    [InlineData("null != null", false)]
    [InlineData("true", true)]
    [InlineData("false", false)]
    [InlineData("1 == '1'", false)]
    [InlineData("1 != '1'", true)]
    [InlineData("true == 'true'", false)]
    [InlineData("null == 0", false)]
    [InlineData("null != ''", true)]
    public void Equality_BooleansNullAndAcrossTypes_DifferentTypesAreNeverEqual(string text, bool expected) =>
        Assert.Equal(expected, Evaluate(text));

    [Theory]
    [InlineData("0.93", "{{ x }} == 0.93")]
    [InlineData(" 42 \n", "{{ x }} == 42")]
    [InlineData("1e3", "{{ x }} == 1000")]
    [InlineData("-0.5", "{{ x }} < 0")]
    [InlineData("10", "{{ x }} > 9")]
    [InlineData("true", "{{ x }} == true")]
    [InlineData(" false ", "{{ x }} == false")]
    [InlineData("", "{{ x }} == null")]
    [InlineData("  ", "{{ x }} == null")]
    [InlineData("null", "{{ x }} == null")]
    [InlineData("yes", "{{ x }} == 'yes'")]
    [InlineData(" yes\n", "{{ x }} == 'yes'")]
    [InlineData("True", "{{ x }} == 'True'")]
    [InlineData("01", "{{ x }} == '01'")]
    [InlineData("1,5", "{{ x }} == '1,5'")]
    [InlineData("NaN", "{{ x }} == 'NaN'")]
    [InlineData("{\"a\": 1}", "{{ x }} == '{\"a\": 1}'")]
    [InlineData("[1, 2]", "{{ x }} == '[1, 2]'")]
    public void RenderedValue_IsTypedAsItsTrimmedJsonScalar_ElseAString(string rendered, string text) =>
        Assert.True(EvaluateWithX(text, rendered));

    [Theory]
    [InlineData("0.93", "{{ x }} != '0.93'")]
    [InlineData("true", "{{ x }} != 'true'")]
    [InlineData("null", "{{ x }} != 'null'")]
    public void RenderedValue_OfAnotherType_NeverEqualsTheQuotedSpelling(string rendered, string text) =>
        Assert.True(EvaluateWithX(text, rendered));

    [Theory]
    [InlineData("true", true)]
    [InlineData("false", false)]
    public void Evaluate_BarePlaceholderRenderingABoolean_IsTheCondition(string rendered, bool expected) =>
        Assert.Equal(expected, EvaluateWithX("{{ x }}", rendered));

    [Theory]
    [InlineData("{{ a }} and {{ b }}", "false", false)]
    [InlineData("{{ a }} or {{ b }}", "true", true)]
    [InlineData("{{ a }} and {{ a }} and {{ b }}", "false", false)]
    public void AndOr_ShortCircuit_TheRightSideIsNotRendered(string text, string a, bool expected)
    {
        var rendered = new List<string>();

        var result = Condition.Parse(text).Evaluate(name =>
        {
            rendered.Add(name);
            return name == "a" ? a : throw new InvalidOperationException("b must not be rendered");
        });

        Assert.Equal(expected, result);
        Assert.DoesNotContain("b", rendered);
    }

    [Fact]
    public void AndOr_RenderTheRightSideWhenItDecides()
    {
        var rendered = new List<string>();

        Condition.Parse("{{ a }} and {{ b }}").Evaluate(name =>
        {
            rendered.Add(name);
            return "true";
        });

        Assert.Equal<string>(["a", "b"], rendered);
    }

    [Fact]
    public void And_ShortCircuit_SkipsATypeErrorOnTheRight() =>
        Assert.False(EvaluateWithX("false and {{ x }} > 1", "abc"));

    [Fact]
    public void Evaluate_RenderThrows_TheExceptionPropagates()
    {
        var condition = Condition.Parse("{{ params.missing }} == 1");

        var error = Assert.Throws<TemplateException>(() => condition.Evaluate(_ => throw new TemplateException("no value")));

        Assert.Equal("no value", error.Message);
    }

    [Theory]
    [InlineData("", "when: the condition is empty")]
    [InlineData(" \n ", "when: the condition is empty")]
    [InlineData("true and", "when: expected an operand after 'and' at column 6")]
    [InlineData("true and or false", "when: expected an operand after 'and' at column 6")]
    [InlineData("true or", "when: expected an operand after 'or' at column 6")]
    [InlineData("1 <", "when: expected an operand after '<' at column 3")]
    [InlineData("1 == not true", "when: expected an operand after '==' at column 3")]
    [InlineData("not", "when: expected an operand after 'not' at column 1")]
    [InlineData("true and ()", "when: expected an operand after '(' at column 10")]
    [InlineData(")", "when: expected an operand at column 1, found ')'")]
    [InlineData("and true", "when: expected an operand at column 1, found 'and'")]
    [InlineData("((true)", "when: unclosed '(' opened at column 1")]
    [InlineData("true and (1 < 2", "when: unclosed '(' opened at column 10")]
    [InlineData("true)", "when: unmatched ')' at column 5")]
    [InlineData("true true", "when: unexpected 'true' at column 6 (expected 'and', 'or' or a comparison)")]
    [InlineData("(true 'x')", "when: unexpected 'x' at column 7 (expected 'and', 'or', a comparison or ')')")]
    [InlineData("1 < 2 < 3", "when: comparisons do not chain: '<' at column 7 follows another comparison (join them with 'and')")]
    [InlineData("1 == 1 != true", "when: comparisons do not chain: '!=' at column 8 follows another comparison (join them with 'and')")]
    [InlineData("'abc", "when: unterminated string starting at column 1")]
    [InlineData("{{ p }} == \"abc", "when: unterminated string starting at column 12")]
    [InlineData(@"'abc\'", "when: unterminated string starting at column 1")]
    [InlineData(@"'a\nb' == 'a'", @"when: unknown escape '\n' at column 3 (a backslash escapes only a quote or a backslash)")]
    [InlineData("{{ p }} == yes", "when: unknown word 'yes' at column 12 (quote strings: 'yes')")]
    [InlineData("True", "when: unknown word 'True' at column 1 (keywords are lowercase: 'true')")]
    [InlineData("1 == 1 AND true", "when: unknown word 'AND' at column 8 (keywords are lowercase: 'and')")]
    [InlineData("params.publish == 'yes'", "when: unknown word 'params.publish' at column 1 (a value is written {{ params.publish }})")]
    [InlineData("{{ p == 1", "when: unclosed '{{' at column 1")]
    [InlineData("1 == {{ }}", "when: empty placeholder '{{ }}' at column 6")]
    [InlineData("01 == 1", "when: malformed number '01' at column 1")]
    [InlineData("1. == 1", "when: malformed number '1.' at column 1")]
    [InlineData("1 == 2abc", "when: malformed number '2abc' at column 6")]
    [InlineData("- 1 == 1", "when: malformed number '-' at column 1")]
    [InlineData("1 = 1", "when: unexpected character '=' at column 3 (compare with '==')")]
    [InlineData("!true", "when: unexpected character '!' at column 1 (negate with 'not')")]
    [InlineData("true && false", "when: unexpected character '&' at column 6 (join with 'and')")]
    [InlineData("true || false", "when: unexpected character '|' at column 6 (join with 'or')")]
    [InlineData("1 == 1 # note", "when: unexpected character '#' at column 8")]
    [InlineData("{ p } == 1", "when: unexpected character '{' at column 1")]
    public void Parse_SyntaxError_NamesWhatAndWhere(string text, string message) =>
        Assert.Equal(message, Assert.Throws<ConditionSyntaxException>(() => Condition.Parse(text)).Message);

    [Theory]
    [InlineData("3", "when: the condition is a number (3), not true or false")]
    [InlineData("('yes')", "when: the condition is a string ('yes'), not true or false")]
    [InlineData("null", "when: the condition is null, not true or false")]
    [InlineData("{{ a }} and 3", "when: 'and' at column 9 needs true or false on each side, not number 3")]
    [InlineData("'x' or {{ a }}", "when: 'or' at column 5 needs true or false on each side, not string 'x'")]
    [InlineData("not null", "when: 'not' at column 1 needs true or false, not null")]
    [InlineData("{{ a }} < true", "when: '<' at column 9 orders only numbers and strings, not a boolean")]
    [InlineData("(1 < 2) >= 1", "when: '>=' at column 9 orders only numbers and strings, not a boolean")]
    [InlineData("null > {{ a }}", "when: '>' at column 6 orders only numbers and strings, not null")]
    [InlineData("1 <= 'a'", "when: cannot compare number 1 with string 'a' using '<=' at column 3")]
    public void Parse_LiteralsThatCanNeverEvaluate_AreRefusedAtLoad(string text, string message) =>
        Assert.Equal(message, Assert.Throws<ConditionSyntaxException>(() => Condition.Parse(text)).Message);

    [Theory]
    [InlineData("{{ x }} < 'abc'", "0.93", "when: cannot compare number 0.93 from {{ x }} with string 'abc' using '<'")]
    [InlineData("{{ x }} >= 0.8", "n/a", "when: cannot compare string 'n/a' from {{ x }} with number 0.8 using '>='")]
    [InlineData("{{ x }} > 1", "true", "when: cannot compare boolean true from {{ x }} with number 1 using '>'")]
    [InlineData("{{ x }} <= {{ x }}", "false", "when: cannot compare boolean false from {{ x }} with boolean false from {{ x }} using '<='")]
    [InlineData("{{ x }} < 1", "", "when: cannot compare null from {{ x }} with number 1 using '<'")]
    [InlineData("{{ x }}", "yes", "when: the condition is a string ('yes' from {{ x }}), not true or false")]
    [InlineData("{{ x }}", "3", "when: the condition is a number (3 from {{ x }}), not true or false")]
    [InlineData("{{ x }}", "null", "when: the condition is null (from {{ x }}), not true or false")]
    [InlineData("{{ x }} and true", "1", "when: 'and' needs true or false on each side, not number 1 from {{ x }}")]
    [InlineData("false or {{ x }}", "maybe", "when: 'or' needs true or false on each side, not string 'maybe' from {{ x }}")]
    [InlineData("not {{ x }}", "", "when: 'not' needs true or false, not null from {{ x }}")]
    public void Evaluate_TypesThatDoNotFit_ThrowNamingTheValues(string text, string x, string message) =>
        Assert.Equal(message, Assert.Throws<ConditionEvaluationException>(() => EvaluateWithX(text, x)).Message);

    [Fact]
    public void Evaluate_LongRenderedValue_IsShortenedInTheMessage()
    {
        var error = Assert.Throws<ConditionEvaluationException>(() => EvaluateWithX("{{ x }}", new string('a', 500)));

        Assert.Equal($"when: the condition is a string ('{new string('a', 40)}…' from {{{{ x }}}}), not true or false", error.Message);
    }

    [Fact]
    public void Parse_NestingUpToTheLimit_IsAccepted()
    {
        var parentheses = new string('(', Condition.MaxDepth) + "true" + new string(')', Condition.MaxDepth);
        var nots = string.Concat(Enumerable.Repeat("not ", Condition.MaxDepth)) + "true";

        Assert.True(Condition.Parse(parentheses).Evaluate(Values()));
        Assert.True(Condition.Parse(nots).Evaluate(Values()));
    }

    [Theory]
    [InlineData("(", 65)]
    [InlineData("not ", 257)]
    [InlineData("not (", 161)]
    public void Parse_NestingPastTheLimit_IsRefusedAtTheLevelThatExceedsIt(string level, int column)
    {
        var text = string.Concat(Enumerable.Repeat(level, Condition.MaxDepth + 1)) + "true";

        var error = Assert.Throws<ConditionSyntaxException>(() => Condition.Parse(text));

        Assert.Equal($"when: the condition nests deeper than 64 levels at column {column}", error.Message);
    }

    [Fact]
    public void Parse_AHostileNestingFarPastTheLimit_IsRefusedWithoutExhaustingTheStack()
    {
        var text = new string('(', Condition.MaxLength);

        var error = Assert.Throws<ConditionSyntaxException>(() => Condition.Parse(text));

        Assert.StartsWith("when: the condition nests deeper than 64 levels", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_ALongAndChain_DoesNotCountAsNesting()
    {
        var text = string.Join(" and ", Enumerable.Repeat("true", 450));

        Assert.True(text.Length <= Condition.MaxLength);
        Assert.True(Condition.Parse(text).Evaluate(Values()));
    }

    [Fact]
    public void Parse_TextLongerThanTheLimit_IsRefused()
    {
        var atLimit = "true" + new string(' ', Condition.MaxLength - 4);

        Assert.True(Condition.Parse(atLimit).Evaluate(Values()));
        var error = Assert.Throws<ConditionSyntaxException>(() => Condition.Parse(atLimit + " "));
        Assert.Equal("when: the condition is 4097 characters long; at most 4096 are allowed", error.Message);
    }

    [Fact]
    public async Task Evaluate_OneParsedCondition_FromManyThreadsAtOnce_GivesEachItsOwnAnswer()
    {
        var condition = Condition.Parse(DesignDocExample);

        var results = await Task.WhenAll(Enumerable.Range(0, 64).Select(i => Task.Run(() =>
            condition.Evaluate(Values(("tasks.evaluate.output.auc", i % 2 == 0 ? "0.9" : "0.1"), ("params.publish", "yes"))))));

        Assert.Equal(Enumerable.Range(0, 64).Select(i => i % 2 == 0), results);
    }
}
