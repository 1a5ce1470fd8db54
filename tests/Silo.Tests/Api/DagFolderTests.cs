using System.Net;
using System.Text.Json;

namespace Batchyard.Tests.Api;

/// <summary>The DAGs folder as the silo follows it: changes re-applied, refused files never replace the good version.</summary>
public sealed class DagFolderTests : IAsyncLifetime
{
    private BatchyardTestHost _host = null!;
    private HttpClient _http = null!;

    public async Task InitializeAsync()
    {
        _host = await BatchyardTestHost.StartAsync(dagFiles: new Dictionary<string, string>
        {
            ["watched.yaml"] = "tasks:\n  first: { backend: noop }\n",
            ["broken.yaml"] = "tasks:\n  a: { backend: noop, depends_on: ghost }\n",
        });
        _http = _host.Http(key: null);
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _host.DisposeAsync();
    }

    private async Task<JsonElement?> DagAsync(string dagId)
    {
        var response = await _http.GetAsync(new Uri($"/api/v1/dags/{dagId}", UriKind.Relative));
        return response.StatusCode == HttpStatusCode.OK
            ? (await JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync())).RootElement.Clone()
            : null;
    }

    private static async Task EventuallyAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, what);
            await Task.Delay(100);
        }
    }

    [Fact]
    public async Task BrokenFileAtStart_IsListedWithItsProblem_AndHasNoVersion()
    {
        var dags = JsonDocument.Parse(await _http.GetStringAsync(new Uri("/api/v1/dags", UriKind.Relative))).RootElement;
        var broken = dags.EnumerateArray().Single(d => d.GetProperty("dagId").GetString() == "broken");
        Assert.Equal("broken.yaml:2: task 'a' depends on unknown task 'ghost'", broken.GetProperty("loadErrors")[0].GetString());
        Assert.Null(await DagAsync("broken"));
    }

    [Fact]
    public async Task ChangedFile_IsReapplied_RefusedChange_KeepsTheLastGoodVersion_DeletedFile_RemovesTheDag()
    {
        var path = Path.Combine(_host.DagsFolder, "watched.yaml");
        await File.WriteAllTextAsync(path, "tasks:\n  first: { backend: noop }\n  second: { backend: noop, depends_on: first }\n");
        await EventuallyAsync(async () => (await DagAsync("watched"))?.GetProperty("tasks").GetArrayLength() == 2, "the changed file was not re-applied");

        await File.WriteAllTextAsync(path, "tasks:\n  first: { backend: noop, depends_on: second }\n  second: { backend: noop, depends_on: first }\n");
        await EventuallyAsync(async () => (await DagAsync("watched"))?.GetProperty("loadErrors").GetArrayLength() > 0, "the refused file's problems were not recorded");
        var dag = (await DagAsync("watched"))!.Value;
        Assert.Equal(2, dag.GetProperty("tasks").GetArrayLength());
        Assert.Equal("first", dag.GetProperty("tasks")[1].GetProperty("upstream")[0].GetString());
        Assert.Contains("cycle: first -> second -> first", dag.GetProperty("loadErrors")[0].GetString(), StringComparison.Ordinal);

        File.Delete(path);
        await EventuallyAsync(async () => await DagAsync("watched") is null, "the deleted file's DAG is still there");
    }
}
