using System.Collections.Immutable;
using System.Text.Json;
using Batchyard.Grains;
using Batchyard.History;
using Batchyard.Notifications;

namespace Batchyard.Tests.Notifications;

/// <summary>The small pieces of notifications: backoff, the posted body, and the run's fold of what it owes.</summary>
public sealed class NotificationPartsTests
{
    [Fact]
    public void DelayAfter_DoublesFromTheFirstRetryDelay_UpToTheCap()
    {
        var options = new NotificationOptions();
        Assert.Equal(TimeSpan.FromSeconds(2), options.DelayAfter(1));
        Assert.Equal(TimeSpan.FromSeconds(4), options.DelayAfter(2));
        Assert.Equal(TimeSpan.FromSeconds(256), options.DelayAfter(8));
        Assert.Equal(TimeSpan.FromSeconds(512), options.DelayAfter(9));
        Assert.Equal(TimeSpan.FromMinutes(10), options.DelayAfter(10));
        Assert.Equal(TimeSpan.FromMinutes(10), options.DelayAfter(500));
    }

    [Fact]
    public void Body_WithoutAPublicUrl_HasTheTextAsItsOnlyBlock_AndFactsCannotOverrideTheFactsOwnFields()
    {
        var request = new NotificationRequest
        {
            EventId = "d/r/on_failure",
            Event = NotifyEvents.OnFailure,
            DagId = "d",
            RunId = "r",
            Text = "Batchyard: d run r failed",
            Facts = ImmutableDictionary<string, string>.Empty.Add("dag_id", "\"other\"").Add("failed_tasks", "[\"t\"]").Add("note", "not json"),
            At = new DateTimeOffset(2026, 12, 2, 10, 0, 0, TimeSpan.Zero),
        };

        using var body = JsonDocument.Parse(NotificationBody.Write(request, publicUrl: null));
        var root = body.RootElement;

        Assert.Equal("d", root.GetProperty("dag_id").GetString());
        Assert.Equal("t", root.GetProperty("failed_tasks")[0].GetString());
        Assert.Equal("not json", root.GetProperty("note").GetString());
        Assert.Equal("2026-12-02T10:00:00.000Z", root.GetProperty("at").GetString());
        var block = Assert.Single(root.GetProperty("blocks").EnumerateArray());
        Assert.Equal(request.Text, block.GetProperty("text").GetProperty("text").GetString());
    }

    [Fact]
    public void FoldedRun_KeepsEachNoticeOnce_AndMarksItHandedOnlyOnceItsGrainTookIt()
    {
        RunEvent Notice(long seq, NoticeFact fact) => new() { DagId = "d", RunId = "r", Seq = seq, Kind = RunEventKinds.Notice, At = DateTimeOffset.UnixEpoch, Payload = RunFactJson.Write(fact) };
        var owed = new NoticeFact("d/r/on_failure", Handed: false, NotifyEvents.OnFailure, null, ["slack"], "failed", ImmutableDictionary<string, string>.Empty, DateTimeOffset.UnixEpoch);
        var retry = new NoticeFact("d/r/t/1/on_retry", Handed: false, NotifyEvents.OnRetry, "t", ["slack"], "retrying");

        var folded = FoldedRun.From([Notice(1, retry), Notice(2, new NoticeFact(retry.EventId, Handed: true)), Notice(3, owed), Notice(4, owed)]);

        Assert.Equal(["d/r/t/1/on_retry", "d/r/on_failure"], folded.Notices.Select(n => n.Owed.EventId));
        Assert.True(folded.Notices[0].Handed);
        Assert.False(folded.Notices[1].Handed);
        Assert.Equal("slack", Assert.Single(folded.Notices[1].Owed.Notifiers!.Value));
    }
}
