using Batchyard.Access;
using Microsoft.Extensions.Configuration;

namespace Batchyard.Tests.Security;

/// <summary>Reading <c>Batchyard:ApiKey</c> and <c>Batchyard:ApiKeys</c>: names, roles, tags, and what is refused.</summary>
public sealed class ApiKeysTests
{
    private static ApiKeys Keys(params (string Key, string Value)[] settings) =>
        new(new ConfigurationBuilder().AddInMemoryCollection(settings.Select(s => new KeyValuePair<string, string?>(s.Key, s.Value))).Build());

    [Fact]
    public void Find_ReturnsTheCallerOfTheKey_WithItsRoleAndTags()
    {
        var keys = Keys(("Batchyard:ApiKey", "legacy"), ("Batchyard:ApiKeys:ci:Key", "k-ci"), ("Batchyard:ApiKeys:ci:Role", "OPERATOR"), ("Batchyard:ApiKeys:ci:Tags", " recsys , ranking,,recsys"));

        var legacy = keys.Find("legacy")!;
        Assert.Equal(("default", AccessRole.Admin, false), (legacy.Name, legacy.Role, legacy.IsTagLimited));
        var ci = keys.Find("k-ci")!;
        Assert.Equal(("ci", AccessRole.Operator), (ci.Name, ci.Role));
        Assert.Equal(new[] { "recsys", "ranking" }, ci.Tags.ToArray());
        Assert.Null(keys.Find("k-c"));
        Assert.Null(keys.Find(null));
        Assert.True(keys.Enabled);
        Assert.False(Keys().Enabled);
    }

    [Theory]
    [InlineData("Role", "superuser", "must be viewer, operator or admin")]
    [InlineData("Role", "2", "must be viewer, operator or admin")]
    [InlineData("Key", "", "has no Key")]
    public void Constructor_WithABadKey_RefusesSayingWhich(string member, string value, string message)
    {
        var settings = new List<(string, string)> { ("Batchyard:ApiKeys:ci:Key", "k"), ("Batchyard:ApiKeys:ci:Role", "viewer") };
        settings.RemoveAll(s => s.Item1.EndsWith(":" + member, StringComparison.Ordinal));
        settings.Add(($"Batchyard:ApiKeys:ci:{member}", value));

        var error = Assert.Throws<InvalidOperationException>(() => Keys([.. settings]));

        Assert.Contains("Batchyard:ApiKeys:ci", error.Message, StringComparison.Ordinal);
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Caller_TagLimited_SeesADagWithOneTag_ButAppliesOnlyOneWithAllWithin()
    {
        var team = new Caller("team", AccessRole.Admin, ["a", "shared"]);

        Assert.True(team.Sees(["a", "b"]));
        Assert.False(team.Sees(["b"]));
        Assert.False(team.MayApply(["a", "b"]));
        Assert.True(team.MayApply(["a", "shared"]));
        Assert.False(team.MayApply([]));
        Assert.True(Caller.Anonymous.Sees([]));
        Assert.False(Caller.Nobody.Sees(["a"]));
    }
}
