using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Batchyard.V1;
using Grpc.Core;
using static Batchyard.Tests.Security.RolesFixture;

namespace Batchyard.Tests.Security;

/// <summary>Each role × each kind of call (read, operate, apply, delete, audit), over HTTP and over gRPC.</summary>
public sealed class RoleMatrixTests(RolesFixture fixture) : IClassFixture<RolesFixture>
{
    public static TheoryData<string, string, int> Http => new()
    {
        { Viewer, "read", 200 }, { Viewer, "operate", 403 }, { Viewer, "apply", 403 }, { Viewer, "delete", 403 }, { Viewer, "audit", 403 },
        { Operator, "read", 200 }, { Operator, "operate", 200 }, { Operator, "apply", 403 }, { Operator, "delete", 403 }, { Operator, "audit", 403 },
        { Admin, "read", 200 }, { Admin, "operate", 200 }, { Admin, "apply", 201 }, { Admin, "delete", 204 }, { Admin, "audit", 200 },
        // The legacy Batchyard:ApiKey is an admin key named "default".
        { Legacy, "read", 200 }, { Legacy, "operate", 200 }, { Legacy, "apply", 201 }, { Legacy, "delete", 204 }, { Legacy, "audit", 200 },
    };

    [Theory]
    [MemberData(nameof(Http))]
    public async Task Http_EachRoleAndKind_AnswersAsTheRoleAllows(string key, string kind, int expected)
    {
        using var http = fixture.Host.Http(key);

        using var response = await SendAsync(http, kind);

        Assert.Equal(expected, (int)response.StatusCode);
        if (expected == 403)
        {
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            Assert.Equal(403, problem.RootElement.GetProperty("status").GetInt32());
            Assert.Contains("needs the role", problem.RootElement.GetProperty("detail").GetString(), StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("read")]
    [InlineData("operate")]
    [InlineData("apply")]
    [InlineData("audit")]
    public async Task Http_WithoutAKnownKey_Is401WhateverTheKind(string kind)
    {
        using var http = fixture.Host.Http("not-a-key");

        using var response = await SendAsync(http, kind);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    public static TheoryData<string, string, StatusCode> Grpc => new()
    {
        { Viewer, "read", StatusCode.OK }, { Viewer, "operate", StatusCode.PermissionDenied }, { Viewer, "apply", StatusCode.PermissionDenied }, { Viewer, "delete", StatusCode.PermissionDenied }, { Viewer, "audit", StatusCode.PermissionDenied },
        { Operator, "read", StatusCode.OK }, { Operator, "operate", StatusCode.OK }, { Operator, "apply", StatusCode.PermissionDenied }, { Operator, "delete", StatusCode.PermissionDenied }, { Operator, "audit", StatusCode.PermissionDenied },
        { Admin, "read", StatusCode.OK }, { Admin, "operate", StatusCode.OK }, { Admin, "apply", StatusCode.OK }, { Admin, "delete", StatusCode.OK }, { Admin, "audit", StatusCode.OK },
        { "not-a-key", "read", StatusCode.Unauthenticated }, { "not-a-key", "operate", StatusCode.Unauthenticated }, { "not-a-key", "apply", StatusCode.Unauthenticated }, { "not-a-key", "audit", StatusCode.Unauthenticated },
    };

    [Theory]
    [MemberData(nameof(Grpc))]
    public async Task Grpc_EachRoleAndKind_AnswersAsTheRoleAllows(string key, string kind, StatusCode expected)
    {
        var client = fixture.Grpc(key);

        var actual = StatusCode.OK;
        try
        {
            await CallAsync(client, kind);
        }
        catch (RpcException ex)
        {
            actual = ex.StatusCode;
        }

        Assert.Equal(expected, actual);
    }

    private async Task<HttpResponseMessage> SendAsync(HttpClient http, string kind)
    {
        switch (kind)
        {
            case "read":
                return await http.GetAsync("/api/v1/dags/plain/runs");
            case "operate":
                // Pause then unpause, so that the shared DAG stays as it was.
                var paused = await http.PostAsync("/api/v1/dags/plain/pause", null);
                if (paused.IsSuccessStatusCode)
                {
                    using var admin = fixture.Host.Http(Admin);
                    (await admin.PostAsync("/api/v1/dags/plain/unpause", null)).EnsureSuccessStatusCode();
                }
                return paused;
            case "apply":
                var applied = HostFixture.NewDagId("matrix-apply");
                return await http.PutAsync($"/api/v1/dags/{applied}", new StringContent(TestDags.Noop(applied)));
            case "delete":
                var deleted = HostFixture.NewDagId("matrix-delete");
                using (var admin = fixture.Host.Http(Admin))
                {
                    (await admin.PutAsync($"/api/v1/dags/{deleted}", new StringContent(TestDags.Noop(deleted)))).EnsureSuccessStatusCode();
                }
                return await http.DeleteAsync($"/api/v1/dags/{deleted}");
            case "audit":
                return await http.GetAsync("/api/v1/audit");
            default:
                throw new ArgumentOutOfRangeException(nameof(kind));
        }
    }

    private async Task CallAsync(BatchyardService.BatchyardServiceClient client, string kind)
    {
        switch (kind)
        {
            case "read":
                await client.ListRunsAsync(new ListRunsRequest { DagId = "plain" });
                break;
            case "operate":
                await client.PauseDagAsync(new PauseDagRequest { DagId = "plain" });
                await fixture.Grpc(Admin).UnpauseDagAsync(new UnpauseDagRequest { DagId = "plain" });
                break;
            case "apply":
                var applied = HostFixture.NewDagId("grpc-matrix-apply");
                await client.ApplyDagAsync(new ApplyDagRequest { DagId = applied, Source = TestDags.Noop(applied) });
                break;
            case "delete":
                var deleted = HostFixture.NewDagId("grpc-matrix-delete");
                await fixture.Grpc(Admin).ApplyDagAsync(new ApplyDagRequest { DagId = deleted, Source = TestDags.Noop(deleted) });
                await client.DeleteDagAsync(new DeleteDagRequest { DagId = deleted });
                break;
            case "audit":
                await client.ListAuditAsync(new ListAuditRequest());
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(kind));
        }
    }

    [Fact]
    public async Task NamedKeys_NeverAppearInTheHostsLog_EvenAfterCallsWithThem()
    {
        foreach (var key in new[] { Viewer, Operator, Admin, TeamAOperator })
        {
            using var http = fixture.Host.Http(key);
            (await http.PostAsync("/api/v1/dags/plain/pause", null)).Dispose();
            (await http.PostAsync("/api/v1/dags/plain/unpause", null)).Dispose();
        }

        foreach (var key in new[] { Viewer, Operator, Admin, TeamAOperator, TeamAAdmin, Legacy })
        {
            Assert.DoesNotContain(fixture.Host.Logs.Lines, line => line.Contains(key, StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task Trigger_ByAnOperator_RecordsItsKeyNameAsTriggeredBy()
    {
        using var http = fixture.Host.Http(Operator);

        using var response = await http.PostAsJsonAsync("/api/v1/dags/plain/runs", new { });
        response.EnsureSuccessStatusCode();
        var runId = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("runId").GetString()!;

        var run = await http.GetFromJsonAsync<JsonElement>($"/api/v1/dags/plain/runs/{runId}");
        Assert.Equal("ci", run.GetProperty("triggeredBy").GetString());
        var viaGrpc = await fixture.Grpc(Viewer).GetRunAsync(new GetRunRequest { DagId = "plain", RunId = runId });
        Assert.Equal("ci", viaGrpc.TriggeredBy);
        var byGrpc = await fixture.Grpc(Admin).TriggerRunAsync(new TriggerRunRequest { DagId = "plain" });
        Assert.Equal("ops", byGrpc.TriggeredBy);
    }
}
