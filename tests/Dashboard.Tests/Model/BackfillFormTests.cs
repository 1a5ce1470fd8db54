using Batchyard.Dashboard.Model;
using Batchyard.Grains;

namespace Batchyard.Dashboard.Tests.Model;

public sealed class BackfillFormTests
{
    [Fact]
    public void ToRequest_Dates_AreWholeUtcDaysAndEveryChoiceIsKept()
    {
        var form = new BackfillForm { From = "2026-01-01", To = " 2026-01-30 ", Reprocess = BackfillReprocess.Failed, MaxActiveRuns = 4, Backwards = true };

        var request = form.ToRequest(out var error);

        Assert.Null(error);
        Assert.Equal(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero), request!.From);
        Assert.Equal(new DateTimeOffset(2026, 1, 31, 0, 0, 0, TimeSpan.Zero).AddTicks(-1), request.To);
        Assert.Equal((BackfillReprocess.Failed, 4, true), (request.Reprocess, request.MaxActiveRuns, request.Backwards));
    }

    [Fact]
    public void ToRequest_TimeWithOffset_IsReadAsUtc()
    {
        var request = new BackfillForm { From = "2026-01-01T06:00:00+02:00", To = "2026-01-02T00:00:00Z" }.ToRequest(out _);

        Assert.Equal(new DateTimeOffset(2026, 1, 1, 4, 0, 0, TimeSpan.Zero), request!.From);
        Assert.Equal(TimeSpan.Zero, request.From.Offset);
        Assert.Null(request.MaxActiveRuns);
    }

    [Theory]
    [InlineData("", "2026-01-02", null, "from:")]
    [InlineData("2026-01-01", "someday", null, "to: 'someday'")]
    [InlineData("2026-01-05", "2026-01-01", null, "from is after to")]
    [InlineData("2026-01-01", "2026-01-05", 0, "at least 1")]
    public void ToRequest_Mistakes_AreNamedAndMakeNoRequest(string from, string to, int? max, string expected)
    {
        var request = new BackfillForm { From = from, To = to, MaxActiveRuns = max }.ToRequest(out var error);

        Assert.Null(request);
        Assert.Contains(expected, error, StringComparison.Ordinal);
    }
}
