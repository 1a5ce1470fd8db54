using System.CommandLine;
using System.Globalization;
using System.Net.Http;
using System.Text.Json;

namespace Batchyard.Cli;

/// <summary>What a command needs: the API, where to write, and whether to write JSON for scripts.</summary>
internal sealed record CliContext(ApiClient Api, TextWriter Out, TextWriter Error, bool Json, TimeSpan PollInterval)
{
    /// <summary>Output goes to a terminal: progress may be redrawn in place (a bar) instead of printed line by line.</summary>
    public bool Terminal { get; init; }

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public void WriteJson(JsonElement element) => Out.WriteLine(JsonSerializer.Serialize(element, Indented));

    public void WriteJson<T>(T value) => Out.WriteLine(JsonSerializer.Serialize(value, Indented));

    /// <summary>Reports a command's result: <paramref name="json"/> in JSON mode, else one line for people; exit code 0.</summary>
    public async Task<int> DoneAsync<T>(T json, string line)
    {
        if (Json)
        {
            WriteJson(json);
        }
        else
        {
            await Out.WriteLineAsync(line);
        }
        return ExitCodes.Ok;
    }
}

/// <summary>Wraps a command's body into a System.CommandLine action that sets up the API client and reports errors.</summary>
internal delegate Func<ParseResult, CancellationToken, Task<int>> ActionFactory(Func<CliContext, ParseResult, CancellationToken, Task<int>> action);

/// <summary>Exit codes: 0 success (a run that succeeded), 1 failure (a refused call, a failed run), 2 a cancelled run.</summary>
internal static class ExitCodes
{
    public const int Ok = 0;
    public const int Failed = 1;
    public const int Cancelled = 2;
}

/// <summary>The <c>batchyard</c> command tree (DESIGN.md's CLI section) over the HTTP API.</summary>
public static class CliApp
{
    public const string DefaultServer = "http://localhost:5080";

    /// <summary>How long a call rides out an unavailable server (503, refused connections) unless <c>--retry-for</c> says otherwise.</summary>
    public const int DefaultRetryForSeconds = 30;

    /// <summary>Runs one command line; <paramref name="environment"/> supplies BATCHYARD_SERVER and BATCHYARD_TOKEN.</summary>
    public static Task<int> RunAsync(
        string[] args,
        TextWriter output,
        TextWriter error,
        Func<string, string?> environment,
        CancellationToken cancellationToken = default,
        TimeSpan? pollInterval = null) =>
        RunAsync(args, output, error, environment, handler: null, cancellationToken, pollInterval);

    /// <summary>As the public overload, with <paramref name="handler"/> in place of the network (tests).</summary>
    internal static async Task<int> RunAsync(
        string[] args,
        TextWriter output,
        TextWriter error,
        Func<string, string?> environment,
        HttpMessageHandler? handler,
        CancellationToken cancellationToken = default,
        TimeSpan? pollInterval = null)
    {
        ArgumentNullException.ThrowIfNull(environment);
        var server = new Option<string>("--server", "-s")
        {
            Description = $"The Batchyard server (default $BATCHYARD_SERVER or {DefaultServer})",
            Recursive = true,
            DefaultValueFactory = _ => environment("BATCHYARD_SERVER") is { Length: > 0 } s ? s : DefaultServer,
        };
        var token = new Option<string?>("--token")
        {
            Description = "The API key, sent as a bearer token (default $BATCHYARD_TOKEN)",
            Recursive = true,
            DefaultValueFactory = _ => environment("BATCHYARD_TOKEN") is { Length: > 0 } t ? t : null,
        };
        var json = new Option<bool>("--json") { Description = "Write the server's JSON instead of tables", Recursive = true };
        var retryFor = new Option<int>("--retry-for")
        {
            Description = $"Seconds each call keeps retrying while the server is unavailable (503, connection refused), saying so on stderr; 0: never (default {DefaultRetryForSeconds})",
            Recursive = true,
            DefaultValueFactory = _ => DefaultRetryForSeconds,
        };
        retryFor.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int>() < 0)
            {
                r.AddError("--retry-for must be 0 or more seconds");
            }
        });

        var root = new RootCommand("Batchyard: DAGs, runs and task logs from the command line") { server, token, json, retryFor };
        var poll = pollInterval ?? TimeSpan.FromSeconds(1);

        ActionFactory act = action =>
            async (parse, ct) =>
            {
                var serverUrl = parse.GetValue(server)!;
                if (!Uri.TryCreate(serverUrl, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
                {
                    await error.WriteLineAsync($"error: --server '{serverUrl}' is not an http(s) URL");
                    return ExitCodes.Failed;
                }
                using var api = ApiClient.Create(serverUrl, parse.GetValue(token), error, TimeSpan.FromSeconds(parse.GetValue(retryFor)), handler);
                var context = new CliContext(api, output, error, parse.GetValue(json), poll)
                {
                    Terminal = ReferenceEquals(output, Console.Out) && !Console.IsOutputRedirected,
                };
                try
                {
                    return await action(context, parse, ct);
                }
                catch (ApiException ex)
                {
                    await error.WriteLineAsync($"error: {ex.Message}");
                    foreach (var problem in ex.Errors)
                    {
                        await error.WriteLineAsync(problem);
                    }
                    return ExitCodes.Failed;
                }
                catch (HttpRequestException ex)
                {
                    await error.WriteLineAsync($"error: cannot reach {serverUrl}: {ex.Message}");
                    return ExitCodes.Failed;
                }
                catch (TaskCanceledException) when (!ct.IsCancellationRequested)
                {
                    await error.WriteLineAsync($"error: {serverUrl} did not answer in time");
                    return ExitCodes.Failed;
                }
                catch (OperationCanceledException) when (ct.IsCancellationRequested)
                {
                    // Interrupted while following: the server carries on; 130 is the shell's code for Ctrl+C.
                    return 130;
                }
                catch (IOException ex)
                {
                    await error.WriteLineAsync($"error: {ex.Message}");
                    return ExitCodes.Failed;
                }
            };

        root.Add(DagCommands.Build(act));
        root.Add(RunCommands.Build(act));
        root.Add(TaskCommands.Build(act));
        root.Add(AuditCommands.Build(act));
        root.Add(CostCommands.Build(act));
        root.Add(BackfillCommands.Build(act));
        root.Add(DatasetCommands.Build(act));

        var parsed = root.Parse(args);
        return await parsed.InvokeAsync(new InvocationConfiguration { Output = output, Error = error }, cancellationToken);
    }

    internal static string Time(string? iso) =>
        iso is not null && DateTimeOffset.TryParse(iso, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var t)
            ? t.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture)
            : "-";
}
