using Batchyard.Dashboard.Model;
using Orleans.Runtime;

namespace Batchyard.Dashboard.Tests.Model;

public sealed class FormatTests
{
    [Fact]
    public void Error_OfAFailover_SaysSoInPlainWords()
    {
        var text = Format.Error(new OrleansException("Exception while sending message", new SiloUnavailableException("silo S127.0.0.1:11112 is unavailable")));

        Assert.Equal("the cluster cannot answer right now (a silo may be failing over); try again in a moment", text);
    }

    [Theory]
    [InlineData(0.42, "0.42 USD")]
    [InlineData(12.345, "12.35 USD")]
    [InlineData(0.000015, "0.000015 USD")]
    [InlineData(0, "0.00 USD")]
    public void Usd_ReadsToTheCent_AndSmallCostsStillShow(double usd, string text) =>
        Assert.Equal(text, Format.Usd((decimal)usd));

    [Fact]
    public void Usd_OfNothingPriced_IsADash() => Assert.Equal("—", Format.Usd(null));

    [Fact]
    public void Error_OfAnythingElse_IsItsMessage() =>
        Assert.Equal("no such run", Format.Error(new InvalidOperationException("no such run")));
}
