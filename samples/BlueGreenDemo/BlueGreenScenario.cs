using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Testing.HAProxy;
using RollbackSentinel.Testing.Prometheus;

namespace BlueGreenDemo;

/// <summary>How <see cref="BlueGreenScenario"/> runs.</summary>
public sealed record BlueGreenScenarioOptions
{
    /// <summary>The folder with the demo policy (rules/demo); null finds it above the current folder or the build.</summary>
    public string? RulesDirectory { get; init; }

    /// <summary>DemoShop.dll and RollbackSentinel.dll; null uses the ones this build recorded.</summary>
    public string? DemoShopDll { get; init; }

    public string? SentinelDll { get; init; }

    /// <summary>The load through HAProxy.</summary>
    public double RequestsPerSecond { get; init; } = 50;

    /// <summary>
    /// The canary split. A quarter of the traffic to green is enough to judge it (12.5 req/s, far above the policy's
    /// minTotal of 1 req/s) while a bad green hurts only a quarter of the users; sending everything to green would
    /// make the demo's "during" phase an outage.
    /// </summary>
    public int CanaryBlueWeight { get; init; } = 75;

    public int CanaryGreenWeight { get; init; } = 25;

    /// <summary>How long green serves its canary share healthily after the policy's gate opened, before it goes bad.</summary>
    public TimeSpan HealthyPeriod { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>What green does when it goes bad: this share of requests answered with HTTP 500, and this extra latency.</summary>
    public double FaultErrorRate { get; init; } = 0.5;

    public int FaultLatencyMs { get; init; }

    /// <summary>How long the load keeps running after the switch, to show the error rate recover.</summary>
    public TimeSpan AfterSwitchPeriod { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How often Prometheus scrapes the shops.</summary>
    public TimeSpan ScrapeInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>The bound on each wait (for an evaluation, for the rollback); far above what they need.</summary>
    public TimeSpan WaitTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>How often a progress line is written while waiting.</summary>
    public TimeSpan ProgressInterval { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Called once the rollback is done and checked, while everything still runs: the sentinel's address and admin token,
    /// to look at its status page (the demo's <c>--linger</c>, a test taking the README's screenshot).
    /// </summary>
    public Func<Uri, string, CancellationToken, Task>? AfterRollback { get; init; }

    /// <summary>Where progress lines go (the console, or a test's output).</summary>
    public Action<string> Log { get; init; } = _ => { };
}

/// <summary>What a run of the scenario saw.</summary>
public sealed record BlueGreenResult(
    DemoPolicy Policy,
    DemoTimeline Timeline,
    JsonElement Change,
    GateEvent GateOpened,
    GateEvent GateClosed,
    JsonElement Incident,
    JsonElement Action,
    IReadOnlyList<HAProxyServerLine> ServersAfter,
    IReadOnlyList<RequestRecord> Requests,
    int? SentinelExitCode,
    string SentinelLog)
{
    /// <summary>The rollback happened: the action succeeded and HAProxy, read back by the demo, has the policy's weights.</summary>
    public bool RolledBack =>
        Action.GetProperty("status").GetString() == "succeeded"
        && Policy.RollbackWeights.All(w => ServersAfter.Any(s => s.Name == w.Key && s.Weight == w.Value));
}

/// <summary>
/// The blue/green rollback, end to end, on real servers: DemoShop blue and green (processes), HAProxy in front of
/// them (backend and admin socket from rules/demo), Prometheus scraping both every second, the sentinel daemon
/// running rules/demo, and load through HAProxy. It records the canary as a change through the sentinel's API (which
/// arms the policy's rollback triggers), shifts a canary share to green, waits for the policy's gate to open, makes
/// green fail, sees the gate close, waits for the sentinel to roll back, checks HAProxy and the requests, and returns
/// the timeline. Everything it starts is
/// stopped when it returns, throws or is cancelled.
/// </summary>
public sealed class BlueGreenScenario(BlueGreenScenarioOptions options)
{
    private readonly BlueGreenScenarioOptions _options = options ?? throw new ArgumentNullException(nameof(options));

    public async Task<BlueGreenResult> RunAsync(CancellationToken cancellationToken)
    {
        var clock = new DemoClock();
        var log = _options.Log;
        void Say(string message) => log($"[{DemoClock.Format(clock.Elapsed),9}] {message}");

        var rules = Path.GetFullPath(_options.RulesDirectory ?? DemoBinaries.RulesDirectory);
        var policy = DemoPolicy.Load(rules);
        var shopDll = _options.DemoShopDll ?? DemoBinaries.DemoShopDll;
        var sentinelDll = _options.SentinelDll ?? DemoBinaries.SentinelDll;
        Say($"policy {policy.Name} ({policy.File}): every {S(policy.Interval)}, {policy.ErrorTrigger} for {S(policy.For)}, "
            + $"rolls back backend {policy.Backend} to {string.Join(' ', policy.RollbackWeights.Select(w => $"{w.Key}={w.Value}"))} over {policy.SocketPath}");

        using var socketGuard = await DemoSocketGuard.AcquireAsync(policy.SocketPath, cancellationToken);
        var work = Directory.CreateTempSubdirectory("rollback-sentinel-demo-");
        DemoShopProcess? blue = null, green = null;
        HAProxyServer? haproxy = null;
        PrometheusServer? prometheus = null;
        SentinelDaemon? sentinel = null;
        LoadGenerator? load = null;
        try
        {
            Say("starting DemoShop blue and green");
            var blueStart = DemoShopProcess.StartAsync(shopDll, "blue", work.FullName, cancellationToken);
            var greenStart = DemoShopProcess.StartAsync(shopDll, "green", work.FullName, cancellationToken);
            try
            {
                await Task.WhenAll(blueStart, greenStart);
            }
            finally
            {
                blue = blueStart.IsCompletedSuccessfully ? blueStart.Result : null;
                green = greenStart.IsCompletedSuccessfully ? greenStart.Result : null;
            }

            (blue, green) = (await blueStart, await greenStart);

            Say($"  blue  on {blue.Address} (pid {blue.Process.Id}), green on {green.Address} (pid {green.Process.Id})");

            haproxy = await HAProxyServer.StartAsync(
                new HAProxyServerOptions
                {
                    Backend = policy.Backend,
                    UnixSocketPath = policy.SocketPath,
                    Servers = [HAProxyBackendServer.At("blue", blue.Address, 100), HAProxyBackendServer.At("green", green.Address, 0)],
                },
                cancellationToken);
            Say($"HAProxy (pid {haproxy.ProcessId}) on {haproxy.FrontendAddress}, backend {policy.Backend}: {await ServersAsync(haproxy, policy, cancellationToken)}, admin socket {haproxy.SocketPath}");

            load = new LoadGenerator(haproxy.FrontendAddress, _options.RequestsPerSecond, clock);
            load.Start();
            Say($"load: {_options.RequestsPerSecond.ToString(CultureInfo.InvariantCulture)} req/s through HAProxy");

            var scrape = S(_options.ScrapeInterval);
            prometheus = await PrometheusServer.StartAsync(
                new PrometheusServerOptions
                {
                    ScrapeConfigsYaml = $"- job_name: demo-shop\n  scrape_interval: {scrape}\n  scrape_timeout: {scrape}\n"
                        + $"  static_configs: [{{targets: ['{blue.Address.Authority}', '{green.Address.Authority}']}}]",
                },
                cancellationToken);
            Say($"Prometheus on {prometheus.BaseAddress}, scraping blue and green every {scrape}");

            sentinel = await SentinelDaemon.StartAsync(sentinelDll, rules, prometheus.BaseAddress, work.FullName, cancellationToken);
            sentinel.Process.Line += line =>
            {
                // The daemon's own words about the incident and the action, as they happen.
                if (line.Contains("Action ", StringComparison.Ordinal) || line.Contains("ncident", StringComparison.Ordinal))
                {
                    Say("  sentinel | " + line.Trim());
                }
            };
            Say($"sentinel (pid {sentinel.Process.Id}) on {sentinel.Address}, rules {rules}");
            Say($"status page: {sentinel.Address} (sign in with the token {sentinel.Token}); the policy: {sentinel.Address}policies/{Uri.EscapeDataString(policy.Name)}?window=5m");
            var ready = clock.Now;

            var first = await WaitForAsync(
                "the sentinel's first evaluation",
                async ct => await TriggerAsync(sentinel, policy, ct) is { LastVerdict: not null } t ? t : null,
                () => "",
                clock,
                cancellationToken);
            Say($"first evaluation: {first.LastVerdict} ({first.Summary}); expected: green takes no traffic yet");

            // What a pipeline does before it shifts traffic: mark the deploy. It arms the rollback triggers for watch.for.
            var change = await sentinel.RecordChangeAsync(
                policy.Name,
                revision: "green",
                previousRevision: "blue",
                by: "demo",
                description: $"canary: {_options.CanaryGreenWeight.ToString(CultureInfo.InvariantCulture)}% of the traffic to green",
                cancellationToken);
            Say($"change recorded: POST /api/v1/changes -> 201 {DescribeChange(change)}; it arms the rollback triggers for {PromDuration.Format(policy.WatchFor)}");
            await using var gate = GateWatcher.Start(sentinel, policy.Name, clock, cancellationToken);

            var canaryAt = clock.Now;
            await SetWeightAsync(haproxy, policy.Backend, "blue", _options.CanaryBlueWeight, cancellationToken);
            await SetWeightAsync(haproxy, policy.Backend, "green", _options.CanaryGreenWeight, cancellationToken);
            var canaryWeights = await ServersAsync(haproxy, policy, cancellationToken);
            Say($"canary: HAProxy weights now {canaryWeights}");

            var pass = await WaitForAsync(
                "a passing evaluation of green",
                async ct => await TriggerAsync(sentinel, policy, ct) is { LastVerdict: "pass" } t ? t : null,
                () => Traffic(load, clock),
                clock,
                cancellationToken);
            var firstPass = clock.Now;
            Say($"the sentinel passes green: {pass.Summary}");

            var opened = await WaitForAsync(
                $"the gate to open ({policy.MinPasses.ToString(CultureInfo.InvariantCulture)} passes in a row of every trigger since the change)",
                _ => Task.FromResult(gate.FirstOpen),
                () => $"gate: {gate.Last}",
                clock,
                cancellationToken);
            Say($"gate opened: GET /api/v1/gates/{policy.Name} -> {opened.Reading.Describe()}");

            Say($"green serves its canary share healthily for {S(_options.HealthyPeriod)} more");
            await Task.Delay(_options.HealthyPeriod, cancellationToken);

            var fault = $"POST {green.Address}admin/fault?errorRate={_options.FaultErrorRate.ToString(CultureInfo.InvariantCulture)}&latencyMs={_options.FaultLatencyMs.ToString(CultureInfo.InvariantCulture)}";
            var greenWentBad = clock.Now;
            await green.SetFaultAsync(_options.FaultErrorRate, _options.FaultLatencyMs, cancellationToken);
            Say($"green goes bad: {fault}");

            TriggerSnapshot? last = null;
            var incident = await WaitForAsync(
                "the sentinel to roll back",
                async ct =>
                {
                    last = await TriggerAsync(sentinel, policy, ct);
                    return (await sentinel.IncidentsAsync(ct)).FirstOrDefault(i =>
                        i.GetProperty("action").GetString() == "rollback" && i.GetProperty("state").GetString() is "acted" or "actionfailed") is { ValueKind: JsonValueKind.Object } found
                        ? (object)found
                        : null;
                },
                () => Traffic(load, clock) + (last is null ? "" : $"; sentinel: {last.Describe(clock)}"),
                clock,
                cancellationToken);
            var closed = await WaitForAsync(
                "the gate to close",
                _ => Task.FromResult(gate.FirstClosedAfter(greenWentBad)),
                () => $"gate: {gate.Last}",
                clock,
                cancellationToken);
            Say($"gate closed at {clock.Relative(closed.At)}: {closed.Reading.Describe()}");
            var id = ((JsonElement)incident).GetProperty("id").GetInt64();
            var detail = await sentinel.IncidentAsync(id, cancellationToken);
            var action = detail.GetProperty("actions").EnumerateArray().First(a => a.GetProperty("kind").GetString() == "rollback");
            var serversAfter = HAProxyServers.Parse(await haproxy.SendCommandAsync($"show servers state {policy.Backend}", cancellationToken));
            Say($"incident {id} {((JsonElement)incident).GetProperty("state").GetString()}: action {action.GetProperty("status").GetString()}: {action.GetProperty("outcome")}");
            Say($"HAProxy now: {HAProxyServers.Describe(serversAfter)}");

            var moved = Time(action, "completedAt");
            await WaitForAsync<object>(
                $"{S(_options.AfterSwitchPeriod)} of traffic after the switch",
                _ => Task.FromResult<object?>(clock.Now - moved >= _options.AfterSwitchPeriod ? new object() : null),
                () => Traffic(load, clock),
                clock,
                cancellationToken);
            await load.StopAsync();
            var end = clock.Now;
            if (_options.AfterRollback is { } after)
            {
                await after(sentinel.Address, sentinel.Token, cancellationToken);
            }

            var requests = load.Records.OrderBy(r => r.Start).ToArray();

            var answers = gate.AnswerTimes;
            Say($"the gate answered {answers.Answers.ToString(CultureInfo.InvariantCulture)} times: median {Ms(answers.Median)}, slowest {Ms(answers.Slowest)}");
            await gate.DisposeAsync();

            var exit = await sentinel.StopAsync();
            Say($"sentinel stopped with SIGTERM: exit code {(exit is { } e ? e.ToString(CultureInfo.InvariantCulture) : "none (killed after 20s)")}");

            var evidence = detail.GetProperty("evidence");
            var incidentView = detail.GetProperty("incident");
            var budget = policy.For + (2 * policy.Interval) + _options.ScrapeInterval;
            var timeline = new DemoTimeline
            {
                Start = clock.Start,
                Ready = ready,
                ChangeRecorded = Time(change, "at"),
                Change = DescribeChange(change),
                WatchFor = policy.WatchFor,
                GateOpened = opened.At,
                GateOpenAnswer = opened.Reading.Describe(),
                GateClosed = closed.At,
                GateClosedAnswer = closed.Reading.Describe(),
                Blames = incidentView.TryGetProperty("changeSummary", out var blames) && blames.ValueKind == JsonValueKind.String ? blames.GetString()! : "?",
                CanaryAt = canaryAt,
                CanaryWeights = canaryWeights,
                FirstPassSeen = firstPass,
                GreenWentBad = greenWentBad,
                Fault = fault,
                BreachFirstSeen = Time(evidence, "since"),
                Fired = Time(evidence, "decidedAt"),
                IncidentId = id,
                Trigger = incidentView.GetProperty("trigger").GetString()!,
                IncidentOpened = Time(incidentView, "openedAt"),
                ActionStarted = Time(action, "startedAt"),
                TrafficMoved = moved,
                ActionStatus = action.GetProperty("status").GetString()!,
                ActionBefore = action.GetProperty("before").GetString() ?? "?",
                ActionAfter = action.GetProperty("after").GetString() ?? "?",
                ServersAfter = HAProxyServers.Describe(serversAfter),
                End = end,
                Before = PhaseStats.Of("before", "canary, green healthy", canaryAt, greenWentBad, requests),
                During = PhaseStats.Of("during", "green bad", greenWentBad, moved, requests),
                After = PhaseStats.Of("after", "rolled back to blue", moved, end, requests),
                FailedInFlightAtSwitch = [.. requests.Where(r => r.Failed && r.Start < moved + DemoTimeline.SentinelTimestampResolution && r.End > moved)],
                FailedStartedAfterSwitch = [.. requests.Where(r => r.Failed && r.Start >= moved + DemoTimeline.SentinelTimestampResolution)],
                Budget = budget,
                BudgetExplained = $"for {S(policy.For)} + 2 x interval {S(policy.Interval)} + scrape interval {S(_options.ScrapeInterval)}",
            };
            return new BlueGreenResult(policy, timeline, change, opened, closed, detail, action, serversAfter, requests, exit, sentinel.Process.RecentLog);
        }
        catch (Exception e) when (e is not OperationCanceledException && sentinel is not null)
        {
            throw new InvalidOperationException($"the demo failed: {e.Message}{Environment.NewLine}The sentinel's last output:{Environment.NewLine}{sentinel.Process.RecentLog}", e);
        }
        finally
        {
            Say("stopping everything the demo started");
            var stopping = Stopwatch.StartNew();
            if (load is not null)
            {
                await load.DisposeAsync();
            }

            if (sentinel is not null)
            {
                await sentinel.DisposeAsync();
            }

            if (prometheus is not null)
            {
                await prometheus.DisposeAsync();
            }

            if (haproxy is not null)
            {
                await haproxy.DisposeAsync();
            }

            if (green is not null)
            {
                await green.DisposeAsync();
            }

            if (blue is not null)
            {
                await blue.DisposeAsync();
            }

            try
            {
                work.Delete(recursive: true);
            }
            catch (IOException)
            {
                // A just-stopped process may still hold a file; the temp folder is the OS's to clean.
            }

            Say($"stopped in {S(stopping.Elapsed)}");
        }
    }

    /// <summary>Polls <paramref name="probe"/> until it returns a value, writing a progress line every ProgressInterval.</summary>
    private async Task<T> WaitForAsync<T>(string what, Func<CancellationToken, Task<T?>> probe, Func<string> progress, DemoClock clock, CancellationToken cancellationToken)
        where T : class
    {
        var waited = Stopwatch.StartNew();
        var lastProgress = TimeSpan.Zero;
        Exception? lastError = null;
        while (waited.Elapsed < _options.WaitTimeout)
        {
            try
            {
                if (await probe(cancellationToken) is { } value)
                {
                    return value;
                }
            }
            catch (Exception e) when (e is HttpRequestException || (e is TaskCanceledException && !cancellationToken.IsCancellationRequested))
            {
                lastError = e;
            }

            if (waited.Elapsed - lastProgress >= _options.ProgressInterval)
            {
                lastProgress = waited.Elapsed;
                var detail = progress();
                _options.Log($"[{DemoClock.Format(clock.Elapsed),9}]   waiting for {what}... {detail}".TrimEnd());
            }

            await Task.Delay(TimeSpan.FromMilliseconds(200), cancellationToken);
        }

        throw new TimeoutException($"gave up waiting for {what} after {S(_options.WaitTimeout)}{(lastError is null ? "" : $" (last error: {lastError.Message})")}");
    }

    /// <summary>What went through HAProxy in the last 2 seconds: e.g. <c>through HAProxy (last 2s): 100 req, 12.0% failed; green 25 req, 48.0% failed</c>.</summary>
    private static string Traffic(LoadGenerator load, DemoClock clock)
    {
        var since = clock.Now - TimeSpan.FromSeconds(2);
        var recent = load.Records.Where(r => r.End >= since).ToArray();
        var green = recent.Where(r => r.Color == "green").ToArray();
        static string P(int part, int whole) => whole == 0 ? "-" : (100.0 * part / whole).ToString("0.0", CultureInfo.InvariantCulture) + "%";
        return $"through HAProxy (last 2s): {recent.Length} req, {P(recent.Count(r => r.Failed), recent.Length)} failed; "
            + $"green {green.Length} req, green error rate {P(green.Count(r => r.Failed), green.Length)}";
    }

    private static async Task<TriggerSnapshot?> TriggerAsync(SentinelDaemon sentinel, DemoPolicy policy, CancellationToken cancellationToken)
    {
        if (await sentinel.PolicyAsync(policy.Name, cancellationToken) is not { } p)
        {
            return null;
        }

        var trigger = p.GetProperty("triggers").EnumerateArray().First(t => t.GetProperty("name").GetString() == policy.ErrorTrigger);
        var series = trigger.GetProperty("series").EnumerateArray().FirstOrDefault();
        if (series.ValueKind != JsonValueKind.Object)
        {
            return null;
        }

        var verdict = series.GetProperty("lastVerdict");
        return new TriggerSnapshot(
            policy.ErrorTrigger,
            series.GetProperty("phase").GetString() ?? "?",
            series.GetProperty("breachingSince") is { ValueKind: JsonValueKind.String } since ? Parse(since.GetString()!) : null,
            verdict.ValueKind == JsonValueKind.Object ? verdict.GetProperty("kind").GetString() : null,
            verdict.ValueKind == JsonValueKind.Object ? verdict.GetProperty("summary").GetString() : null);
    }

    private static async Task SetWeightAsync(HAProxyServer haproxy, string backend, string server, int weight, CancellationToken cancellationToken)
    {
        var answer = await haproxy.SendCommandAsync($"set weight {backend}/{server} {weight.ToString(CultureInfo.InvariantCulture)}", cancellationToken);
        if (!string.IsNullOrWhiteSpace(answer))
        {
            throw new InvalidOperationException($"HAProxy refused 'set weight {backend}/{server} {weight}': {answer.Trim()}");
        }
    }

    private static async Task<string> ServersAsync(HAProxyServer haproxy, DemoPolicy policy, CancellationToken cancellationToken) =>
        HAProxyServers.Describe(HAProxyServers.Parse(await haproxy.SendCommandAsync($"show servers state {policy.Backend}", cancellationToken)));

    private static DateTimeOffset Time(JsonElement element, string property) =>
        element.GetProperty(property) is { ValueKind: JsonValueKind.String } s
            ? Parse(s.GetString()!)
            : throw new InvalidOperationException($"the sentinel's API has no {property} in {element}");

    private static DateTimeOffset Parse(string rfc3339) => DateTimeOffset.Parse(rfc3339, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal);

    /// <summary>e.g. <c>change 1: blue -> green by demo (canary: 25% of the traffic to green)</c>.</summary>
    private static string DescribeChange(JsonElement change)
    {
        static string? Text(JsonElement e, string name) => e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
        var id = change.TryGetProperty("id", out var i) && i.ValueKind == JsonValueKind.Number ? i.GetInt64().ToString(CultureInfo.InvariantCulture) : "?";
        var what = Text(change, "previousRevision") is { } from ? $"{from} -> {Text(change, "revision")}" : Text(change, "revision");
        return $"change {id}: {what} by {Text(change, "by") ?? "?"}{(Text(change, "description") is { } d ? $" ({d})" : "")}";
    }

    private static string Ms(TimeSpan d) => d.TotalMilliseconds.ToString("0.0", CultureInfo.InvariantCulture) + "ms";

    private static string S(TimeSpan d) => d.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture) + "s";

    /// <summary>The error trigger's only series as the sentinel's API shows it.</summary>
    private sealed record TriggerSnapshot(string Trigger, string Phase, DateTimeOffset? BreachingSince, string? LastVerdict, string? Summary)
    {
        public string Describe(DemoClock clock) =>
            $"{Trigger} {Phase}{(BreachingSince is { } s ? " since " + clock.Relative(s) : "")}, last verdict {LastVerdict ?? "-"}{(Summary is null ? "" : ": " + Summary)}";
    }
}
