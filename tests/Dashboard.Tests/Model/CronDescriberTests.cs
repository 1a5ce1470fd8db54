using Batchyard.Dashboard.Model;

namespace Batchyard.Dashboard.Tests.Model;

public class CronDescriberTests
{
    [Theory]
    [InlineData("0 3 * * *", "Asia/Tokyo", "every day at 03:00 Asia/Tokyo")]
    [InlineData("*/15 * * * *", "UTC", "every 15 minutes UTC")]
    [InlineData("* * * * *", "UTC", "every minute UTC")]
    [InlineData("30 * * * *", "UTC", "every hour at :30 UTC")]
    [InlineData("5 */6 * * *", "UTC", "every 6 hours at :05 UTC")]
    [InlineData("0 9 * * 1", "Europe/Paris", "every Monday at 09:00 Europe/Paris")]
    [InlineData("0 9 * * MON-FRI", "UTC", "every weekday at 09:00 UTC")]
    [InlineData("0 18 * * 1,3,5", "UTC", "every Monday, Wednesday and Friday at 18:00 UTC")]
    [InlineData("0 0 1 * *", "UTC", "on the 1st of every month at 00:00 UTC")]
    [InlineData("15 4 10 * *", "UTC", "on day 10 of every month at 04:15 UTC")]
    [InlineData("@daily", "UTC", "every day at 00:00 UTC")]
    [InlineData("@hourly", "UTC", "every hour at :00 UTC")]
    [InlineData("@weekly", "UTC", "every Sunday at 00:00 UTC")]
    [InlineData("0 30 2 * * *", "UTC", "every day at 02:30 UTC")]
    [InlineData("0 12 25 12 *", "UTC", "every year on December 25 at 12:00 UTC")]
    public void Describe_CommonPattern_ReadsAsWords(string cron, string zone, string expected) =>
        Assert.Equal(expected, CronDescriber.Describe(cron, zone));

    [Theory]
    [InlineData("0 3 1-7 * 1")]
    [InlineData("0 3,15 * * *")]
    [InlineData("15 10 * * * *")]
    public void Describe_UnusualPattern_FallsBackToTheExpression(string cron) =>
        Assert.Equal($"cron {cron} (UTC)", CronDescriber.Describe(cron, "UTC"));

    [Fact]
    public void Describe_NoSchedule_SaysManualOnly() =>
        Assert.Equal("manual only", CronDescriber.Describe(null, "UTC"));
}
