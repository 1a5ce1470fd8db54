using System.Text.Json;
using System.Text.Json.Nodes;
using Batchyard.Grains;

namespace Batchyard.Notifications;

/// <summary>
/// The JSON a notifier is posted: the fact's fields (<c>event</c>, <c>event_id</c>, <c>dag_id</c>, <c>run_id</c>,
/// <c>task_id</c>, <c>at</c>, <c>text</c>), its <see cref="NotificationRequest.Facts"/> beside them, and Slack
/// <c>blocks</c> showing the text with a link to the run on the dashboard when <c>Batchyard:PublicUrl</c> is set.
/// </summary>
public static class NotificationBody
{
    public static string Write(NotificationRequest request, string? publicUrl)
    {
        ArgumentNullException.ThrowIfNull(request);
        var body = new JsonObject
        {
            ["event"] = request.Event,
            ["event_id"] = request.EventId,
            ["dag_id"] = request.DagId,
            ["run_id"] = request.RunId,
            ["task_id"] = request.TaskId,
            ["at"] = request.At.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", System.Globalization.CultureInfo.InvariantCulture),
            ["text"] = request.Text,
        };
        foreach (var (name, value) in request.Facts.OrderBy(f => f.Key, StringComparer.Ordinal))
        {
            // The fact's own fields come first and win: a fact cannot pass itself off as another run.
            if (!body.ContainsKey(name))
            {
                body[name] = Parse(value);
            }
        }
        var link = RunLink(request, publicUrl);
        var blocks = new JsonArray
        {
            new JsonObject
            {
                ["type"] = "section",
                ["text"] = new JsonObject { ["type"] = "mrkdwn", ["text"] = link is null ? request.Text : $"{request.Text} <{link}|run>" },
            },
        };
        if (link is not null)
        {
            blocks.Add(new JsonObject
            {
                ["type"] = "actions",
                ["elements"] = new JsonArray
                {
                    new JsonObject
                    {
                        ["type"] = "button",
                        ["text"] = new JsonObject { ["type"] = "plain_text", ["text"] = "Open run" },
                        ["url"] = link,
                    },
                },
            });
        }
        body["blocks"] = blocks;
        return body.ToJsonString();
    }

    /// <summary>The dashboard's page of the run (<c>/dags/{dag}/runs/{run}</c>), or null without a public URL or a run.</summary>
    public static string? RunLink(NotificationRequest request, string? publicUrl)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (string.IsNullOrWhiteSpace(publicUrl) || request.RunId is null)
        {
            return null;
        }
        return $"{publicUrl.TrimEnd('/')}/dags/{Uri.EscapeDataString(request.DagId)}/runs/{Uri.EscapeDataString(request.RunId)}";
    }

    /// <summary>A fact is a JSON value; one that is not (a caller's slip) is sent as the string it is.</summary>
    private static JsonNode? Parse(string value)
    {
        try
        {
            return JsonNode.Parse(value);
        }
        catch (JsonException)
        {
            return JsonValue.Create(value);
        }
    }
}
