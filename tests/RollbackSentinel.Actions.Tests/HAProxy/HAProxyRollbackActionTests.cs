using RollbackSentinel.Actions.HAProxy;
using RollbackSentinel.Core.Evaluation;
using RollbackSentinel.Core.Incidents;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Core.State;
using RollbackSentinel.Testing.HAProxy;
using RollbackSentinel.Testing.Net;

namespace RollbackSentinel.Actions.Tests.HAProxy;

/// <summary>The HAProxy adapter against a real haproxy, with two real HTTP servers (blue and green) behind it.</summary>
public sealed class HAProxyRollbackActionTests : IAsyncLifetime
{
    private const int Requests = 12;
    private static readonly DateTimeOffset T0 = new(2026, 11, 20, 10, 0, 0, TimeSpan.Zero);
    private static readonly Dictionary<string, int> BackToBlue = new(StringComparer.Ordinal) { ["blue"] = 100, ["green"] = 0 };

    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(10) };
    private LoopbackHttpServer _blue = null!;
    private LoopbackHttpServer _green = null!;

    public Task InitializeAsync()
    {
        _blue = LoopbackHttpServer.Start(new CannedResponse(200, "blue", "text/plain"));
        _green = LoopbackHttpServer.Start(new CannedResponse(200, "green", "text/plain"));
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _blue.DisposeAsync();
        await _green.DisposeAsync();
    }

    /// <summary>HAProxy in front of blue (weight 0) and green (weight 100): green is live, blue is the last good one.</summary>
    private Task<HAProxyServer> StartHAProxyAsync(bool unixSocket = true, bool tcpAdmin = false, string balance = "roundrobin") =>
        HAProxyServer.StartAsync(
            new HAProxyServerOptions
            {
                Servers = [HAProxyBackendServer.At("blue", _blue.BaseAddress, 0), HAProxyBackendServer.At("green", _green.BaseAddress, 100)],
                UnixSocket = unixSocket,
                TcpAdmin = tcpAdmin,
                Balance = balance,
            },
            CancellationToken.None);

    private static RollbackRequest Request(Uri runtimeApi, IReadOnlyDictionary<string, int> weights, IReadOnlyDictionary<string, HAProxyServerState>? states = null, string backend = "shop")
    {
        var target = new HAProxyTarget(runtimeApi, backend, weights) { States = states ?? new Dictionary<string, HAProxyServerState>(), Timeout = TimeSpan.FromSeconds(5) };
        var policy = new Policy
        {
            Name = "shop",
            Target = target,
            Schedule = new IntervalSchedule(TimeSpan.FromSeconds(15)),
            Triggers = [new Trigger { Name = "errors", Condition = new ThresholdCondition("q", ComparisonOperator.GreaterThan, 1) }],
        };
        var verdict = new Verdict { Kind = VerdictKind.Breach, Reason = VerdictReason.ThresholdExceeded, Labels = LabelSet.Empty, Value = 2, Threshold = 1, Summary = "value 2 > 1" };
        var decision = new Decision { Policy = "shop", Trigger = "errors", Labels = LabelSet.Empty, At = T0, Kind = DecisionKind.Act, Action = TriggerAction.Rollback, Verdict = verdict };
        var incident = new Incident
        {
            Id = 7, Policy = "shop", Trigger = "errors", Labels = LabelSet.Empty, Action = TriggerAction.Rollback, Status = IncidentStatus.Acting,
            OpenedAt = T0, UpdatedAt = T0, Summary = "value 2 > 1", EvidenceJson = "{}",
        };
        return RollbackRequests.From(policy, incident, decision, "rs-key-1");
    }

    private static HAProxyRollbackAction Adapter() =>
        new(new HAProxyOptions { RetryBaseDelay = TimeSpan.Zero, DefaultTimeout = TimeSpan.FromSeconds(5) }, TimeProvider.System);

    private static async Task<IReadOnlyList<HAProxyServerStatus>> StateAsync(Uri runtimeApi) =>
        await new HAProxyRuntimeClient(runtimeApi, TimeSpan.FromSeconds(5), TimeProvider.System).ShowServersStateAsync("shop", CancellationToken.None);

    private static async Task<string> StateTextAsync(Uri runtimeApi) =>
        string.Join(", ", (await StateAsync(runtimeApi)).Select(s => s.Describe()));

    /// <summary>Which color answered each of <see cref="Requests"/> requests through HAProxy (one connection each).</summary>
    private async Task<Dictionary<string, int>> HitsAsync(HAProxyServer haproxy)
    {
        var hits = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < Requests; i++)
        {
            using var message = new HttpRequestMessage(HttpMethod.Get, new Uri(haproxy.FrontendAddress, "color"));
            message.Headers.ConnectionClose = true;
            using var response = await _http.SendAsync(message);
            var body = await response.Content.ReadAsStringAsync();
            var key = response.IsSuccessStatusCode ? body : $"HTTP {(int)response.StatusCode}";
            hits[key] = hits.GetValueOrDefault(key) + 1;
        }

        return hits;
    }

    private static Dictionary<string, int> All(string color) => new(StringComparer.Ordinal) { [color] = Requests };

    [Fact]
    public async Task Execute_OverUnixSocket_MovesAllTrafficBackToBlue_RaisingBlueBeforeLoweringGreen()
    {
        await using var haproxy = await StartHAProxyAsync();
        await using var proxy = new RuntimeApiProxy(haproxy.SocketPath!);
        Assert.Equal(All("green"), await HitsAsync(haproxy));
        var adapter = Adapter();
        var request = Request(proxy.RuntimeApi, BackToBlue);

        var plan = await adapter.PlanAsync(request, CancellationToken.None);

        Assert.Equal("switch backend shop to blue=100 green=0", plan.Summary);
        Assert.Equal(["set weight shop/blue 100", "set weight shop/green 0"], plan.Steps);
        Assert.Equal("backend shop: blue weight 0 ready, green weight 100 ready", plan.Before);
        Assert.Equal("backend shop: blue weight 100 ready, green weight 0 ready", plan.After);
        Assert.Equal("0", plan.Fact("before.weight.blue"));
        Assert.Equal("100", plan.Fact("before.weight.green"));
        Assert.Equal("ready", plan.Fact("before.state.green"));
        Assert.Equal("100", plan.Fact("target.weight.blue"));
        Assert.Equal("0", plan.Fact("target.weight.green"));
        Assert.Empty(proxy.SetCommands);

        // The stored plan is what runs, as after a restart.
        var result = await adapter.ExecuteAsync(request, ActionPlan.FromJson(plan.ToJson()), dryRun: false, CancellationToken.None);

        Assert.Equal(ActionEffect.Changed, result.Effect);
        Assert.Equal("switched backend shop to blue=100 green=0: set weight shop/blue 100; set weight shop/green 0", result.Outcome);
        Assert.Equal("backend shop: blue weight 0 ready, green weight 100 ready", result.Before);
        Assert.Equal("backend shop: blue weight 100 ready, green weight 0 ready", result.After);
        Assert.Equal(["set weight shop/blue 100", "set weight shop/green 0"], proxy.SetCommands);
        Assert.Equal("blue weight 100 ready, green weight 0 ready", await StateTextAsync(haproxy.RuntimeApi!));
        Assert.Equal(All("blue"), await HitsAsync(haproxy));
    }

    [Fact]
    public async Task Execute_Twice_SecondRunIsUnchangedAndSendsNoSetCommand()
    {
        await using var haproxy = await StartHAProxyAsync();
        await using var proxy = new RuntimeApiProxy(haproxy.SocketPath!);
        var adapter = Adapter();
        var request = Request(proxy.RuntimeApi, BackToBlue);
        var plan = await adapter.PlanAsync(request, CancellationToken.None);
        Assert.Equal(ActionEffect.Changed, (await adapter.ExecuteAsync(request, plan, dryRun: false, CancellationToken.None)).Effect);
        var stateAfterFirst = await StateTextAsync(haproxy.RuntimeApi!);
        proxy.Clear();

        var second = await adapter.ExecuteAsync(request, plan, dryRun: false, CancellationToken.None);

        Assert.Equal(ActionEffect.Unchanged, second.Effect);
        Assert.Equal("backend shop already is at blue=100 green=0: nothing sent", second.Outcome);
        Assert.Equal("backend shop: blue weight 100 ready, green weight 0 ready", second.Before);
        Assert.Equal(["show servers state shop"], proxy.Commands);
        Assert.Equal(stateAfterFirst, await StateTextAsync(haproxy.RuntimeApi!));
        Assert.Equal(All("blue"), await HitsAsync(haproxy));
    }

    [Fact]
    public async Task Execute_TrafficMovedSinceThePlan_RefusesAndChangesNothing()
    {
        // An operator rolled forward (green 100 -> 60, blue 0 -> 40) after the plan was made: the old plan
        // (or a lagging second sentinel) must not switch everything back.
        await using var haproxy = await StartHAProxyAsync();
        await using var proxy = new RuntimeApiProxy(haproxy.SocketPath!);
        var adapter = Adapter();
        var request = Request(proxy.RuntimeApi, BackToBlue);
        var plan = await adapter.PlanAsync(request, CancellationToken.None);
        await haproxy.SendCommandAsync("set weight shop/blue 40", CancellationToken.None);
        await haproxy.SendCommandAsync("set weight shop/green 60", CancellationToken.None);
        proxy.Clear();

        var result = await adapter.ExecuteAsync(request, plan, dryRun: false, CancellationToken.None);

        Assert.Equal(ActionEffect.Failed, result.Effect);
        Assert.Equal(
            "backend shop moved on since the incident was decided (blue weight 0 when planned, now 40, green weight 100 when planned, now 60): nothing changed; humans must look",
            result.Outcome);
        Assert.Empty(proxy.SetCommands);
        Assert.Equal("blue weight 40 ready, green weight 60 ready", await StateTextAsync(haproxy.RuntimeApi!));
    }

    [Fact]
    public async Task Execute_StoppedHalfWay_IsCompletedNotRefused()
    {
        // The first command landed (blue raised), the second did not: blue is at its goal, green where planned.
        await using var haproxy = await StartHAProxyAsync();
        var adapter = Adapter();
        var request = Request(haproxy.RuntimeApi!, BackToBlue);
        var plan = await adapter.PlanAsync(request, CancellationToken.None);
        await haproxy.SendCommandAsync("set weight shop/blue 100", CancellationToken.None);

        var result = await adapter.ExecuteAsync(request, plan, dryRun: false, CancellationToken.None);

        Assert.Equal(ActionEffect.Changed, result.Effect);
        Assert.Equal("switched backend shop to blue=100 green=0: set weight shop/green 0", result.Outcome);
        Assert.Equal("blue weight 100 ready, green weight 0 ready", await StateTextAsync(haproxy.RuntimeApi!));
    }

    [Fact]
    public async Task Execute_OverTcpAdminSocket_MovesAllTrafficBackToBlue()
    {
        await using var haproxy = await StartHAProxyAsync(unixSocket: false, tcpAdmin: true);
        Assert.Null(haproxy.RuntimeApi);
        Assert.Equal(All("green"), await HitsAsync(haproxy));
        var adapter = Adapter();
        var request = Request(haproxy.TcpRuntimeApi!, BackToBlue);

        var plan = await adapter.PlanAsync(request, CancellationToken.None);
        var result = await adapter.ExecuteAsync(request, plan, dryRun: false, CancellationToken.None);
        var again = await adapter.ExecuteAsync(request, plan, dryRun: false, CancellationToken.None);

        Assert.Equal(ActionEffect.Changed, result.Effect);
        Assert.Equal("backend shop: blue weight 100 ready, green weight 0 ready", result.After);
        Assert.Equal(ActionEffect.Unchanged, again.Effect);
        Assert.Equal("blue weight 100 ready, green weight 0 ready", await StateTextAsync(haproxy.TcpRuntimeApi!));
        Assert.Equal(All("blue"), await HitsAsync(haproxy));
    }

    [Theory]
    [InlineData(HAProxyServerState.Drain, "drain", HAProxyAdminFlags.ForcedDrain)]
    [InlineData(HAProxyServerState.Maint, "maint", HAProxyAdminFlags.ForcedMaint)]
    public async Task Execute_WithStates_SetsAndVerifiesThem(HAProxyServerState state, string word, HAProxyAdminFlags flag)
    {
        await using var haproxy = await StartHAProxyAsync();
        await using var proxy = new RuntimeApiProxy(haproxy.SocketPath!);
        var adapter = Adapter();
        var request = Request(proxy.RuntimeApi, new Dictionary<string, int> { ["blue"] = 100 }, new Dictionary<string, HAProxyServerState> { ["green"] = state });

        var plan = await adapter.PlanAsync(request, CancellationToken.None);
        var result = await adapter.ExecuteAsync(request, plan, dryRun: false, CancellationToken.None);

        Assert.Equal($"switch backend shop to blue=100, green {word}", plan.Summary);
        Assert.Equal(["set weight shop/blue 100", $"set server shop/green state {word}"], plan.Steps);
        Assert.Equal(word, plan.Fact("target.state.green"));
        Assert.Equal("ready", plan.Fact("before.state.green"));
        Assert.Equal(ActionEffect.Changed, result.Effect);
        Assert.Equal($"backend shop: blue weight 100 ready, green weight 100 {word}", result.After);
        var green = Assert.Single(await StateAsync(haproxy.RuntimeApi!), s => s.Name == "green");
        Assert.Equal(state, green.State);
        Assert.Equal(flag, green.AdminState);
        Assert.Equal(100, green.Weight);
        Assert.Equal(All("blue"), await HitsAsync(haproxy));

        proxy.Clear();
        Assert.Equal(ActionEffect.Unchanged, (await adapter.ExecuteAsync(request, plan, dryRun: false, CancellationToken.None)).Effect);
        Assert.Empty(proxy.SetCommands);
    }

    [Fact]
    public async Task Execute_ServerInMaintGoingReady_IsSetReadyBeforeTheOtherGoesDown()
    {
        await using var haproxy = await StartHAProxyAsync();
        await haproxy.SendCommandAsync("set server shop/blue state maint", CancellationToken.None);
        await using var proxy = new RuntimeApiProxy(haproxy.SocketPath!);
        var adapter = Adapter();
        var request = Request(
            proxy.RuntimeApi,
            BackToBlue,
            new Dictionary<string, HAProxyServerState> { ["blue"] = HAProxyServerState.Ready, ["green"] = HAProxyServerState.Maint });

        var plan = await adapter.PlanAsync(request, CancellationToken.None);
        var result = await adapter.ExecuteAsync(request, plan, dryRun: false, CancellationToken.None);

        Assert.Equal("backend shop: blue weight 0 maint, green weight 100 ready", plan.Before);
        Assert.Equal("maint", plan.Fact("before.state.blue"));
        Assert.Equal(ActionEffect.Changed, result.Effect);
        Assert.Equal(
            ["set weight shop/blue 100", "set server shop/blue state ready", "set weight shop/green 0", "set server shop/green state maint"],
            proxy.SetCommands);
        Assert.Equal("backend shop: blue weight 100 ready, green weight 0 maint", result.After);
        Assert.Equal(All("blue"), await HitsAsync(haproxy));
    }

    [Fact]
    public async Task Plan_UnknownServer_FailsListingTheServersThatExist_AndNothingChanges()
    {
        await using var haproxy = await StartHAProxyAsync();
        var before = await StateTextAsync(haproxy.RuntimeApi!);
        var request = Request(haproxy.RuntimeApi!, new Dictionary<string, int> { ["blue"] = 100, ["purple"] = 0 });

        var e = await Assert.ThrowsAsync<ActionFailedException>(() => Adapter().PlanAsync(request, CancellationToken.None));

        Assert.Equal($"backend shop at unix://{haproxy.SocketPath} has no server purple (it has blue, green)", e.Message);
        Assert.Equal(before, await StateTextAsync(haproxy.RuntimeApi!));
    }

    [Fact]
    public async Task Execute_PlanNamingAServerThatIsGone_FailsAndSendsNoSetCommand()
    {
        await using var haproxy = await StartHAProxyAsync();
        await using var proxy = new RuntimeApiProxy(haproxy.SocketPath!);
        var request = Request(proxy.RuntimeApi, BackToBlue);
        var plan = new ActionPlan("switch backend shop to blue=100 purple=0")
        {
            Facts = new Dictionary<string, string> { ["backend"] = "shop", ["target.weight.blue"] = "100", ["target.weight.purple"] = "0" },
        };

        var result = await Adapter().ExecuteAsync(request, plan, dryRun: false, CancellationToken.None);

        Assert.Equal(ActionEffect.Failed, result.Effect);
        Assert.Equal($"backend shop at unix://{proxy.SocketPath} has no server purple (it has blue, green): nothing changed", result.Outcome);
        Assert.Empty(proxy.SetCommands);
    }

    [Fact]
    public async Task Plan_UnknownBackend_FailsWithHAProxysAnswer()
    {
        await using var haproxy = await StartHAProxyAsync();
        var request = Request(haproxy.RuntimeApi!, BackToBlue, backend: "checkout");

        var e = await Assert.ThrowsAsync<ActionFailedException>(() => Adapter().PlanAsync(request, CancellationToken.None));

        Assert.Equal($"HAProxy runtime API unix://{haproxy.SocketPath} refused 'show servers state checkout': Can't find backend.", e.Message);
    }

    [Fact]
    public async Task PlanAndExecute_SocketThatDoesNotExist_FailNamingIt()
    {
        await using var haproxy = await StartHAProxyAsync();
        var adapter = Adapter();
        var plan = await adapter.PlanAsync(Request(haproxy.RuntimeApi!, BackToBlue), CancellationToken.None);
        var missing = Path.Combine(Path.GetTempPath(), $"rs-no-such-{Guid.NewGuid():N}.sock");
        var request = Request(new Uri("unix://" + missing), BackToBlue);

        var e = await Assert.ThrowsAsync<ActionFailedException>(() => adapter.PlanAsync(request, CancellationToken.None));
        var result = await adapter.ExecuteAsync(request, plan, dryRun: false, CancellationToken.None);

        Assert.Equal($"cannot connect to the HAProxy runtime API unix://{missing}: no such socket file", e.Message);
        Assert.Equal(ActionEffect.Failed, result.Effect);
        Assert.Equal(e.Message, result.Outcome);
        Assert.Equal("blue weight 0 ready, green weight 100 ready", await StateTextAsync(haproxy.RuntimeApi!));
    }

    [Fact]
    public async Task Execute_DryRun_ChangesNothingAndListsTheExactCommands()
    {
        await using var haproxy = await StartHAProxyAsync();
        await using var proxy = new RuntimeApiProxy(haproxy.SocketPath!);
        var adapter = Adapter();
        var request = Request(proxy.RuntimeApi, BackToBlue);
        var plan = await adapter.PlanAsync(request, CancellationToken.None);

        var result = await adapter.ExecuteAsync(request, plan, dryRun: true, CancellationToken.None);

        Assert.Equal(ActionEffect.DryRun, result.Effect);
        Assert.Equal("dry-run: would switch backend shop to blue=100 green=0: set weight shop/blue 100; set weight shop/green 0", result.Outcome);
        Assert.Empty(proxy.SetCommands);
        Assert.Equal("blue weight 0 ready, green weight 100 ready", await StateTextAsync(haproxy.RuntimeApi!));
        Assert.Equal(All("green"), await HitsAsync(haproxy));
    }

    [Fact]
    public async Task Execute_StaticLoadBalancing_FailsWithHAProxysRefusal()
    {
        await using var haproxy = await StartHAProxyAsync(balance: "source");
        var adapter = Adapter();
        var request = Request(haproxy.RuntimeApi!, BackToBlue);
        var plan = await adapter.PlanAsync(request, CancellationToken.None);

        var result = await adapter.ExecuteAsync(request, plan, dryRun: false, CancellationToken.None);

        Assert.Equal(ActionEffect.Failed, result.Effect);
        Assert.Equal(
            $"HAProxy runtime API unix://{haproxy.SocketPath} refused 'set weight shop/blue 100': "
            + "Backend is using a static LB algorithm and only accepts weights '0%' and '100%'. (nothing was changed)",
            result.Outcome);
        Assert.Equal("backend shop: blue weight 0 ready, green weight 100 ready", result.Before);
        Assert.Equal("blue weight 0 ready, green weight 100 ready", await StateTextAsync(haproxy.RuntimeApi!));
    }

    [Fact]
    public async Task Execute_ConnectionClosedWithoutAnswer_IsRetried()
    {
        await using var haproxy = await StartHAProxyAsync();
        await using var proxy = new RuntimeApiProxy(haproxy.SocketPath!);
        var adapter = Adapter();
        var request = Request(proxy.RuntimeApi, BackToBlue);
        var plan = await adapter.PlanAsync(request, CancellationToken.None);
        proxy.HangUpOnSets = 2;

        var result = await adapter.ExecuteAsync(request, plan, dryRun: false, CancellationToken.None);

        Assert.Equal(ActionEffect.Changed, result.Effect);
        Assert.Equal(["set weight shop/blue 100", "set weight shop/blue 100", "set weight shop/blue 100", "set weight shop/green 0"], proxy.SetCommands);
        Assert.Equal(All("blue"), await HitsAsync(haproxy));
    }

    [Fact]
    public async Task Execute_ConnectionClosedOnEveryAttempt_FailsSayingSo()
    {
        await using var haproxy = await StartHAProxyAsync();
        await using var proxy = new RuntimeApiProxy(haproxy.SocketPath!);
        var adapter = Adapter();
        var request = Request(proxy.RuntimeApi, BackToBlue);
        var plan = await adapter.PlanAsync(request, CancellationToken.None);
        proxy.HangUpOnSets = 100;

        var result = await adapter.ExecuteAsync(request, plan, dryRun: false, CancellationToken.None);

        Assert.Equal(ActionEffect.Failed, result.Effect);
        Assert.Equal($"HAProxy runtime API unix://{proxy.SocketPath} closed the connection without answering 'set weight shop/blue 100' (nothing was changed)", result.Outcome);
        Assert.Equal(3, proxy.SetCommands.Count);
    }

    [Fact]
    public async Task Execute_ReadbackNotAtTarget_FailsSayingWhichServerIsWhere()
    {
        await using var haproxy = await StartHAProxyAsync();
        await using var proxy = new RuntimeApiProxy(haproxy.SocketPath!);
        var adapter = Adapter();
        var request = Request(proxy.RuntimeApi, BackToBlue);
        var plan = await adapter.PlanAsync(request, CancellationToken.None);
        proxy.SwallowSets = true;

        var result = await adapter.ExecuteAsync(request, plan, dryRun: false, CancellationToken.None);

        Assert.Equal(ActionEffect.Failed, result.Effect);
        Assert.Equal(
            "sent set weight shop/blue 100; set weight shop/green 0 but backend shop reads back blue weight 0 (want 100), green weight 100 (want 0)",
            result.Outcome);
        Assert.Equal("backend shop: blue weight 0 ready, green weight 100 ready", result.After);
    }

    [Fact]
    public async Task Plan_TargetLeavingNoServerTakingTraffic_IsRefused()
    {
        await using var haproxy = await StartHAProxyAsync();
        var request = Request(haproxy.RuntimeApi!, new Dictionary<string, int> { ["blue"] = 0, ["green"] = 0 });

        var e = await Assert.ThrowsAsync<ActionFailedException>(() => Adapter().PlanAsync(request, CancellationToken.None));

        Assert.Equal(
            "switching backend shop to blue=0 green=0 would leave no server taking traffic (blue weight 0 ready, green weight 0 ready): check the policy's weights and states",
            e.Message);
    }

    [Fact]
    public async Task Plan_ServerNameThatWouldInjectACommand_IsRefusedBeforeSending()
    {
        await using var haproxy = await StartHAProxyAsync();
        var request = Request(haproxy.RuntimeApi!, new Dictionary<string, int> { ["blue;shutdown frontend fe"] = 100 });

        var e = await Assert.ThrowsAsync<ActionFailedException>(() => Adapter().PlanAsync(request, CancellationToken.None));

        Assert.StartsWith("'blue;shutdown frontend fe' is not a valid HAProxy server name", e.Message, StringComparison.Ordinal);
        Assert.Equal(All("green"), await HitsAsync(haproxy));
    }
}
