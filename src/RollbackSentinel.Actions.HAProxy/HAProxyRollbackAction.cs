using System.Globalization;
using Polly;
using Polly.Retry;
using RollbackSentinel.Core.Policies;

namespace RollbackSentinel.Actions.HAProxy;

/// <summary>How the HAProxy adapter talks to the runtime API.</summary>
public sealed record HAProxyOptions
{
    public static readonly HAProxyOptions Default = new();

    /// <summary>How long one runtime API command may take when the target sets no <c>timeout</c>.</summary>
    public TimeSpan DefaultTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Attempts per command in all, the first included (only connection failures and timeouts are retried).</summary>
    public int MaxAttempts { get; init; } = 3;

    /// <summary>The wait before the first retry; it doubles (with jitter) for each further one. Zero in tests.</summary>
    public TimeSpan RetryBaseDelay { get; init; } = TimeSpan.FromMilliseconds(500);
}

/// <summary>
/// Switches weights (and optionally administrative states) of servers in an HAProxy backend through its runtime
/// API: blue/green and canary rollbacks. The plan reads <c>show servers state</c> once and records, per named
/// server, the weight and state seen then (to roll forward later) and the ones to set. Executing re-reads the
/// backend and sends only the <c>set weight</c> / <c>set server ... state</c> commands still needed: servers going
/// up first, then the ones going down, so the backend never has zero weight in between. These commands are
/// absolute, so a command that timed out or lost its connection is sent again. The result is verified by reading
/// <c>show servers state</c> back.
/// </summary>
internal sealed class HAProxyRollbackAction(HAProxyOptions options, TimeProvider time) : IRollbackAction
{
    public const string FactBackend = "backend";
    public const string FactTargetWeight = "target.weight.";
    public const string FactTargetState = "target.state.";
    public const string FactBeforeWeight = "before.weight.";
    public const string FactBeforeState = "before.state.";

    public string Kind => "haproxy";

    public async Task<ActionPlan> PlanAsync(RollbackRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var target = Target(request);
        var goal = Goal.FromTarget(target);
        var client = Client(target);
        IReadOnlyList<HAProxyServerStatus> servers;
        try
        {
            servers = await ReadAsync(client, goal.Backend, cancellationToken).ConfigureAwait(false);
        }
        catch (HAProxyRuntimeException e)
        {
            throw new ActionFailedException(e.Message, e);
        }

        var byName = Named(goal, servers) is { } byNameOrError
            ? byNameOrError
            : throw new ActionFailedException(Missing(goal, servers, client.Where));

        var expected = servers.Select(s => goal.Apply(s)).ToList();
        if (!expected.Any(s => s.State == HAProxyServerState.Ready && s.Weight > 0))
        {
            throw new ActionFailedException(
                $"switching backend {goal.Backend} to {goal} would leave no server taking traffic "
                + $"({string.Join(", ", expected.Select(s => s.Describe()))}): check the policy's weights and states");
        }

        var facts = new Dictionary<string, string>(StringComparer.Ordinal) { [FactBackend] = goal.Backend };
        foreach (var server in goal.Servers)
        {
            var now = byName[server];
            facts[FactBeforeWeight + server] = Invariant(now.Weight);
            facts[FactBeforeState + server] = HAProxyRuntimeClient.Word(now.State);
            if (goal.Weights.TryGetValue(server, out var weight))
            {
                facts[FactTargetWeight + server] = Invariant(weight);
            }

            if (goal.States.TryGetValue(server, out var state))
            {
                facts[FactTargetState + server] = HAProxyRuntimeClient.Word(state);
            }
        }

        return new ActionPlan($"switch backend {goal.Backend} to {goal}")
        {
            Steps = Commands(goal, byName),
            Before = Describe(goal, byName),
            After = Describe(goal, goal.Servers.ToDictionary(s => s, s => goal.Apply(byName[s]), StringComparer.Ordinal)),
            Facts = facts,
        };
    }

    public async Task<ActionResult> ExecuteAsync(RollbackRequest request, ActionPlan plan, bool dryRun, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(plan);
        HAProxyTarget target;
        Goal goal;
        HAProxyRuntimeClient client;
        try
        {
            target = Target(request);
            goal = Goal.FromPlan(plan);
            if (goal.Backend != target.Backend)
            {
                return ActionResult.Failure($"the plan was made for backend {goal.Backend} but the policy now names backend {target.Backend}: nothing done");
            }

            client = Client(target);
        }
        catch (ActionFailedException e)
        {
            return ActionResult.Failure(e.Message);
        }

        var retry = RetryPipeline();
        IReadOnlyDictionary<string, HAProxyServerStatus> now;
        IReadOnlyList<HAProxyServerStatus> all;
        try
        {
            all = await ReadAsync(client, goal.Backend, cancellationToken, retry).ConfigureAwait(false);
            if (Named(goal, all) is not { } named)
            {
                return ActionResult.Failure(Missing(goal, all, client.Where) + ": nothing changed");
            }

            now = named;
        }
        catch (HAProxyRuntimeException e)
        {
            return ActionResult.Failure(e.Message);
        }

        var before = Describe(goal, now);
        if (dryRun)
        {
            return ActionResult.DryRun(plan);
        }

        var commands = Commands(goal, now);
        if (commands.Count == 0)
        {
            return ActionResult.Unchanged($"backend {goal.Backend} already is at {goal}: nothing sent", before);
        }

        // Neither where the plan started nor where it leads: someone (an operator rolling forward, a deploy) moved
        // the traffic since the incident was decided. An old plan must not switch it back.
        // (A server already at its goal is not "moved": a run that stopped half-way may be completed.)
        var moved = goal.Servers.Where(server => goal.Mismatch(now[server]) is not null).Select(server => MovedSince(plan, now[server])).OfType<string>().ToList();
        if (moved.Count > 0)
        {
            return ActionResult.Failure(
                $"backend {goal.Backend} moved on since the incident was decided ({string.Join(", ", moved)}): nothing changed; humans must look", before);
        }

        if (!all.Select(goal.Apply).Any(s => s.State == HAProxyServerState.Ready && s.Weight > 0))
        {
            return ActionResult.Failure($"switching backend {goal.Backend} to {goal} now would leave no server taking traffic: nothing changed", before);
        }

        var done = new List<string>();
        foreach (var command in commands)
        {
            try
            {
                await retry.ExecuteAsync(async ct => await client.RunSetAsync(command, ct).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
                done.Add(command);
            }
            catch (HAProxyRuntimeException e)
            {
                var applied = done.Count == 0 ? "nothing was changed" : "already applied: " + string.Join("; ", done);
                return ActionResult.Failure($"{e.Message} ({applied})", before);
            }
        }

        IReadOnlyDictionary<string, HAProxyServerStatus> readBack;
        try
        {
            var servers = await ReadAsync(client, goal.Backend, cancellationToken, retry).ConfigureAwait(false);
            if (Named(goal, servers) is not { } named)
            {
                return ActionResult.Failure($"after {string.Join("; ", commands)}: " + Missing(goal, servers, client.Where), before);
            }

            readBack = named;
        }
        catch (HAProxyRuntimeException e)
        {
            return ActionResult.Failure($"sent {string.Join("; ", commands)} but could not read the result back: {e.Message}", before);
        }

        var after = Describe(goal, readBack);
        var wrong = goal.Servers.Select(s => goal.Mismatch(readBack[s])).OfType<string>().ToList();
        if (wrong.Count > 0)
        {
            return ActionResult.Failure($"sent {string.Join("; ", commands)} but backend {goal.Backend} reads back {string.Join(", ", wrong)}", before) with { After = after };
        }

        return ActionResult.Changed($"switched backend {goal.Backend} to {goal}: {string.Join("; ", commands)}", before, after);
    }

    /// <summary>
    /// The commands that move the named servers to the goal, servers going up (weight raised, set ready) before
    /// servers going down (weight lowered, drain, maint), so the backend keeps taking traffic at every step.
    /// </summary>
    internal static List<string> Commands(Goal goal, IReadOnlyDictionary<string, HAProxyServerStatus> now)
    {
        var up = new List<string>();
        var down = new List<string>();
        foreach (var server in goal.Servers)
        {
            var current = now[server];
            if (goal.Weights.TryGetValue(server, out var weight) && weight != current.Weight)
            {
                (weight > current.Weight ? up : down).Add(HAProxyRuntimeClient.SetWeightCommand(goal.Backend, server, weight));
            }

            if (goal.States.TryGetValue(server, out var state) && state != current.State)
            {
                (state == HAProxyServerState.Ready ? up : down).Add(HAProxyRuntimeClient.SetStateCommand(goal.Backend, server, state));
            }
        }

        return [.. up, .. down];
    }

    private ResiliencePipeline RetryPipeline() =>
        new ResiliencePipelineBuilder { TimeProvider = time }
            .AddRetry(new RetryStrategyOptions
            {
                MaxRetryAttempts = Math.Max(0, options.MaxAttempts - 1),
                Delay = options.RetryBaseDelay,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = options.RetryBaseDelay > TimeSpan.Zero,
                ShouldHandle = new PredicateBuilder().Handle<HAProxyRuntimeException>(e => e.Retryable),
            })
            .Build();

    private async Task<IReadOnlyList<HAProxyServerStatus>> ReadAsync(
        HAProxyRuntimeClient client, string backend, CancellationToken cancellationToken, ResiliencePipeline? retry = null) =>
        await (retry ?? RetryPipeline()).ExecuteAsync(
            async ct => await client.ShowServersStateAsync(backend, ct).ConfigureAwait(false),
            cancellationToken).ConfigureAwait(false);

    private HAProxyRuntimeClient Client(HAProxyTarget target) => new(target.RuntimeApi, target.Timeout ?? options.DefaultTimeout, time);

    private static HAProxyTarget Target(RollbackRequest request) =>
        request.Target.Definition as HAProxyTarget
            ?? throw new ActionFailedException($"the haproxy adapter was given a {request.Target.Kind} target");

    /// <summary>The named servers by name, or null when one is missing.</summary>
    private static Dictionary<string, HAProxyServerStatus>? Named(Goal goal, IReadOnlyList<HAProxyServerStatus> servers)
    {
        var byName = new Dictionary<string, HAProxyServerStatus>(StringComparer.Ordinal);
        foreach (var server in servers)
        {
            byName.TryAdd(server.Name, server);
        }

        return goal.Servers.All(byName.ContainsKey) ? byName : null;
    }

    private static string Missing(Goal goal, IReadOnlyList<HAProxyServerStatus> servers, string where)
    {
        var names = servers.Select(s => s.Name).ToHashSet(StringComparer.Ordinal);
        var missing = goal.Servers.Where(s => !names.Contains(s)).ToList();
        var existing = servers.Count == 0 ? "it has no servers" : "it has " + string.Join(", ", servers.Select(s => s.Name));
        return $"backend {goal.Backend} at {where} has no server {string.Join(", ", missing)} ({existing})";
    }

    /// <summary>"backend shop: blue weight 0 ready, green weight 100 ready" for the named servers.</summary>
    /// <summary>How a server differs from what the plan saw when it was made, or null if it is as it was.</summary>
    private static string? MovedSince(ActionPlan plan, HAProxyServerStatus now)
    {
        var weight = plan.Facts.TryGetValue(FactBeforeWeight + now.Name, out var w) ? w : null;
        var state = plan.Facts.TryGetValue(FactBeforeState + now.Name, out var st) ? st : null;
        var changes = new List<string>();
        if (weight is not null && weight != Invariant(now.Weight))
        {
            changes.Add($"weight {weight} when planned, now {Invariant(now.Weight)}");
        }

        if (state is not null && state != HAProxyRuntimeClient.Word(now.State))
        {
            changes.Add($"{state} when planned, now {HAProxyRuntimeClient.Word(now.State)}");
        }

        return changes.Count == 0 ? null : $"{now.Name} {string.Join(" and ", changes)}";
    }

    private static string Describe(Goal goal, IReadOnlyDictionary<string, HAProxyServerStatus> servers) =>
        $"backend {goal.Backend}: {string.Join(", ", goal.Servers.Select(s => servers[s].Describe()))}";

    private static string Invariant(int value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>Where the named servers of a backend should be: a weight, a state, or both, per server.</summary>
    internal sealed record Goal(string Backend, IReadOnlyDictionary<string, int> Weights, IReadOnlyDictionary<string, HAProxyServerState> States)
    {
        /// <summary>Every named server, in ordinal order (so plans, commands and outcomes read the same every time).</summary>
        public IReadOnlyList<string> Servers { get; } = [.. Weights.Keys.Union(States.Keys).Order(StringComparer.Ordinal)];

        public static Goal FromTarget(HAProxyTarget target)
        {
            try
            {
                HAProxyRuntimeClient.CheckName(target.Backend, "backend");
                foreach (var server in target.Weights.Keys.Union(target.States.Keys))
                {
                    HAProxyRuntimeClient.CheckName(server, "server");
                }
            }
            catch (ArgumentException e)
            {
                throw new ActionFailedException(e.Message, e);
            }

            if (target.Weights.Count == 0 && target.States.Count == 0)
            {
                throw new ActionFailedException($"the haproxy target for backend {target.Backend} names no server weights or states");
            }

            if (target.Weights.FirstOrDefault(w => w.Value is < 0 or > 256) is { Key: { } bad, Value: var value })
            {
                throw new ActionFailedException($"weight {value} for server {bad} is out of range: HAProxy weights are 0 to 256");
            }

            return new Goal(
                target.Backend,
                new Dictionary<string, int>(target.Weights, StringComparer.Ordinal),
                new Dictionary<string, HAProxyServerState>(target.States, StringComparer.Ordinal));
        }

        public static Goal FromPlan(ActionPlan plan)
        {
            var backend = plan.Fact(FactBackend);
            var weights = new Dictionary<string, int>(StringComparer.Ordinal);
            var states = new Dictionary<string, HAProxyServerState>(StringComparer.Ordinal);
            foreach (var (key, value) in plan.Facts)
            {
                if (key.StartsWith(FactTargetWeight, StringComparison.Ordinal))
                {
                    weights[key[FactTargetWeight.Length..]] = int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var w) && w <= 256
                        ? w
                        : throw new ActionFailedException($"the stored plan has weight '{value}' for {key[FactTargetWeight.Length..]}: not a weight");
                }
                else if (key.StartsWith(FactTargetState, StringComparison.Ordinal))
                {
                    states[key[FactTargetState.Length..]] = value switch
                    {
                        "ready" => HAProxyServerState.Ready,
                        "drain" => HAProxyServerState.Drain,
                        "maint" => HAProxyServerState.Maint,
                        _ => throw new ActionFailedException($"the stored plan has state '{value}' for {key[FactTargetState.Length..]}: not ready, drain or maint"),
                    };
                }
            }

            if (weights.Count == 0 && states.Count == 0)
            {
                throw new ActionFailedException("the stored plan names no server weights or states: it was not made by this adapter");
            }

            try
            {
                HAProxyRuntimeClient.CheckName(backend, "backend");
                foreach (var server in weights.Keys.Union(states.Keys))
                {
                    HAProxyRuntimeClient.CheckName(server, "server");
                }
            }
            catch (ArgumentException e)
            {
                throw new ActionFailedException("the stored plan is not usable: " + e.Message, e);
            }

            return new Goal(backend, weights, states);
        }

        /// <summary>The server as it will read back once the goal is applied.</summary>
        public HAProxyServerStatus Apply(HAProxyServerStatus server)
        {
            var result = server;
            if (Weights.TryGetValue(server.Name, out var weight))
            {
                result = result with { Weight = weight };
            }

            if (States.TryGetValue(server.Name, out var state) && state != server.State)
            {
                var flags = server.AdminState & ~(HAProxyAdminFlags.ForcedMaint | HAProxyAdminFlags.ForcedDrain);
                result = result with
                {
                    AdminState = state switch
                    {
                        HAProxyServerState.Maint => flags | HAProxyAdminFlags.ForcedMaint,
                        HAProxyServerState.Drain => flags | HAProxyAdminFlags.ForcedDrain,
                        _ => flags,
                    },
                    // Leaving maintenance, a server without checks comes up running (with checks it starts, then runs).
                    OperationalState = state == HAProxyServerState.Maint ? 0 : server.State == HAProxyServerState.Maint ? 2 : server.OperationalState,
                };
            }

            return result;
        }

        /// <summary>What is not at the goal on this server ("green weight 100 (want 0)"), or null.</summary>
        public string? Mismatch(HAProxyServerStatus server)
        {
            var wrong = new List<string>();
            if (Weights.TryGetValue(server.Name, out var weight) && weight != server.Weight)
            {
                wrong.Add($"weight {Invariant(server.Weight)} (want {Invariant(weight)})");
            }

            if (States.TryGetValue(server.Name, out var state) && state != server.State)
            {
                wrong.Add($"{HAProxyRuntimeClient.Word(server.State)} (want {HAProxyRuntimeClient.Word(state)}; admin state 0x{(int)server.AdminState:x2})");
            }

            return wrong.Count == 0 ? null : $"{server.Name} {string.Join(" ", wrong)}";
        }

        /// <summary>"blue=100 green=0", with states: "blue=100 green=0, green drain".</summary>
        public override string ToString()
        {
            var weights = string.Join(" ", Servers.Where(Weights.ContainsKey).Select(s => $"{s}={Invariant(Weights[s])}"));
            var states = string.Join(", ", Servers.Where(States.ContainsKey).Select(s => $"{s} {HAProxyRuntimeClient.Word(States[s])}"));
            return weights.Length == 0 ? states : states.Length == 0 ? weights : $"{weights}, {states}";
        }
    }
}
