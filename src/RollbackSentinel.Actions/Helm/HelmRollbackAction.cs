using System.ComponentModel;
using System.Globalization;
using System.Text.Json;
using Polly;
using Polly.Retry;
using RollbackSentinel.Actions.Processes;
using RollbackSentinel.Core.Policies;

namespace RollbackSentinel.Actions.Helm;

/// <summary>
/// <c>helm rollback</c> of a release to the last revision deployed before the bad one. The plan reads the
/// release's history once: the bad revision is the one deployed now, the revision to return to is the highest
/// earlier one that was deployed (failed revisions are skipped). A release whose current revision already is
/// a rollback is left alone: a second sentinel, or a second incident, never walks back through history.
/// Executing re-reads the history and rolls back only when the release still runs the bad revision; when it
/// already runs the planned revision's chart and values, nothing is done. Reads are retried; the rollback
/// itself runs at most once per execution, with <c>--wait</c>, and is verified by reading the history back.
/// </summary>
public sealed class HelmRollbackAction(ICommandRunner runner, HelmOptions options, TimeProvider time) : IRollbackAction
{
    public const int HistoryMax = 50;

    private const string FactRelease = "release";
    private const string FactNamespace = "namespace";
    private const string FactFromRevision = "fromRevision";
    private const string FactFromChart = "fromChart";
    private const string FactToRevision = "toRevision";
    private const string FactToChart = "toChart";
    private const string FactNoop = "noop";

    public string Kind => "helm";

    public async Task<ActionPlan> PlanAsync(ActionRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var release = Resolve(request);
        var history = await HistoryAsync(release, cancellationToken).ConfigureAwait(false);
        var current = history.Current(release.Where);
        var facts = new Dictionary<string, string> { [FactRelease] = release.Name };
        if (release.Namespace is { } ns)
        {
            facts[FactNamespace] = ns;
        }

        if (current.IsRollback)
        {
            facts[FactNoop] = "true";
            facts[FactFromRevision] = Invariant(current.Revision);
            facts[FactFromChart] = current.Chart;
            return new ActionPlan($"leave {release.Where} as it is: it already runs a rollback (revision {current.Revision}: {current.Description})")
            {
                Before = current.ToString(),
                After = current.ToString(),
                Facts = facts,
            };
        }

        var target = history.LastGoodBefore(current)
            ?? throw new ActionFailedException(
                $"{release.Where} has no earlier deployed revision to roll back to (it runs {current}; none of the {history.Revisions.Count(r => r.Revision < current.Revision)} revisions before it in the last {HistoryMax} was deployed)");

        facts[FactFromRevision] = Invariant(current.Revision);
        facts[FactFromChart] = current.Chart;
        facts[FactToRevision] = Invariant(target.Revision);
        facts[FactToChart] = target.Chart;
        return new ActionPlan($"roll {release.Where} back from {current} to {target}")
        {
            Steps = [RollbackCommand(release, target.Revision, WaitTimeout(request)).ToString()],
            Before = current.ToString(),
            After = $"a new revision = rollback to {target.Revision} ({target.Chart})",
            Facts = facts,
        };
    }

    public async Task<ActionResult> ExecuteAsync(ActionRequest request, ActionPlan plan, bool dryRun, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(plan);
        Release release;
        int from, to;
        string toChart;
        try
        {
            release = Resolve(request);
            if (plan.Fact(FactRelease) != release.Name || (plan.Facts.GetValueOrDefault(FactNamespace) != release.Namespace))
            {
                return ActionResult.Failure($"the plan was made for release {plan.Fact(FactRelease)} but the policy now names {release.Where}: nothing done");
            }

            if (plan.Facts.ContainsKey(FactNoop))
            {
                return dryRun ? ActionResult.DryRun(plan) : ActionResult.Unchanged($"nothing to do: {plan.Summary}", plan.Before);
            }

            from = IntFact(plan, FactFromRevision);
            to = IntFact(plan, FactToRevision);
            toChart = plan.Fact(FactToChart);
        }
        catch (ActionFailedException e)
        {
            return ActionResult.Failure(e.Message);
        }

        string? before = null;
        try
        {
            var history = await HistoryAsync(release, cancellationToken).ConfigureAwait(false);
            var current = history.Current(release.Where);
            before = current.ToString();
            if (await RunsRevisionAsync(release, current, to, toChart, cancellationToken).ConfigureAwait(false))
            {
                var already = $"{release.Where} already runs the chart and values of revision {to} ({current}): nothing to do";
                return dryRun
                    ? ActionResult.DryRun(plan) with { Outcome = "dry-run: " + already, Before = before, After = before }
                    : ActionResult.Unchanged(already, before);
            }

            if (current.Revision != from)
            {
                return ActionResult.Failure(
                    $"the release moved on since the incident was decided (now {current}; the plan was to roll back revision {from} to {to}): nothing done",
                    before);
            }

            if (dryRun)
            {
                return ActionResult.DryRun(plan) with { Before = before, After = before };
            }

            return await RollbackAsync(request, release, current, to, toChart, cancellationToken).ConfigureAwait(false);
        }
        catch (ActionFailedException e)
        {
            return ActionResult.Failure(e.Message, before);
        }
    }

    private async Task<ActionResult> RollbackAsync(ActionRequest request, Release release, HelmRevision current, int to, string toChart, CancellationToken cancellationToken)
    {
        var wait = WaitTimeout(request);
        var command = RollbackCommand(release, to, wait);
        string? error = null;
        try
        {
            // Never retried: a rollback that failed or timed out may have done part of its work; the history says what.
            var output = await runner.RunAsync(command, wait + options.CommandTimeout, cancellationToken).ConfigureAwait(false);
            if (!output.Succeeded)
            {
                error = $"helm rollback of {release.Where} to revision {to} failed ({output.Reason})";
            }
        }
        catch (ActionFailedException e)
        {
            error = $"helm rollback of {release.Where} to revision {to} timed out or could not run: {e.Message}";
        }

        HelmHistory after;
        try
        {
            after = await HistoryAsync(release, cancellationToken).ConfigureAwait(false);
        }
        catch (ActionFailedException e)
        {
            return ActionResult.Failure(
                (error ?? $"helm rollback of {release.Where} to revision {to} reported success") + $"; its history could not be read back: {e.Message}",
                current.ToString());
        }

        var latest = after.Latest;
        var now = latest is null ? "it has no revisions" : $"latest is revision {latest.Revision}, {latest.Status}: {latest.Description}";
        if (error is not null)
        {
            return ActionResult.Failure($"{error}; {now}", current.ToString());
        }

        var deployed = after.Revisions.LastOrDefault(r => r.IsDeployed);
        if (deployed is null || deployed.Revision <= current.Revision || deployed.RolledBackTo != to || deployed != latest)
        {
            return ActionResult.Failure(
                $"helm rollback of {release.Where} to revision {to} reported success but the history does not show it ({now})",
                current.ToString());
        }

        var chart = deployed.Chart == toChart ? "" : $" (expected chart {toChart})";
        return ActionResult.Changed(
            $"rolled {release.Where} back from {current} to revision {to} ({toChart}): now {deployed}{chart}",
            current.ToString(),
            deployed.ToString());
    }

    /// <summary>Whether <paramref name="current"/> runs revision <paramref name="revision"/>'s chart and user-supplied values.</summary>
    private async Task<bool> RunsRevisionAsync(Release release, HelmRevision current, int revision, string chart, CancellationToken cancellationToken)
    {
        if (current.Chart != chart)
        {
            return false;
        }

        if (current.Revision == revision)
        {
            return true;
        }

        // Both by number: without --revision, helm get values reads the latest revision, which may be a failed one.
        using var wanted = await ValuesAsync(release, revision, cancellationToken).ConfigureAwait(false);
        using var running = await ValuesAsync(release, current.Revision, cancellationToken).ConfigureAwait(false);
        return JsonElement.DeepEquals(wanted.RootElement, running.RootElement);
    }

    private async Task<HelmHistory> HistoryAsync(Release release, CancellationToken cancellationToken)
    {
        var command = Helm(release, ["history", release.Name], ["-o", "json", "--max", Invariant(HistoryMax)]);
        var output = await ReadAsync(command, cancellationToken).ConfigureAwait(false);
        return HelmHistory.Parse(output.StandardOutput, command.ToString());
    }

    /// <summary>User-supplied values of a revision, as JSON; none is an empty object.</summary>
    private async Task<JsonDocument> ValuesAsync(Release release, int revision, CancellationToken cancellationToken)
    {
        var command = Helm(release, ["get", "values", release.Name], ["--revision", Invariant(revision), "-o", "json"]);
        var output = await ReadAsync(command, cancellationToken).ConfigureAwait(false);
        var text = output.StandardOutput.Trim();
        try
        {
            return JsonDocument.Parse(text.Length == 0 || text == "null" ? "{}" : text);
        }
        catch (JsonException e)
        {
            throw new ActionFailedException($"'{command}' did not print values as JSON: {e.Message}", e);
        }
    }

    /// <summary>Runs a read, retried (with backoff) when it fails or times out; a missing helm is not retried.</summary>
    private async Task<CommandOutput> ReadAsync(CommandLine command, CancellationToken cancellationToken)
    {
        var pipeline = new ResiliencePipelineBuilder<CommandOutput> { TimeProvider = time }
            .AddRetry(new RetryStrategyOptions<CommandOutput>
            {
                MaxRetryAttempts = Math.Max(0, options.ReadAttempts - 1),
                Delay = options.RetryBaseDelay,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = options.RetryBaseDelay > TimeSpan.Zero,
                ShouldHandle = args => ValueTask.FromResult(
                    args.Outcome.Exception is ActionFailedException { InnerException: not Win32Exception }
                    || args.Outcome.Result is { Succeeded: false }),
            })
            .Build();

        var output = await pipeline.ExecuteAsync(
            async ct => await runner.RunAsync(command, options.CommandTimeout, ct).ConfigureAwait(false),
            cancellationToken).ConfigureAwait(false);
        return output.Succeeded ? output : throw new ActionFailedException($"'{command}' failed: {output.Reason}");
    }

    private CommandLine RollbackCommand(Release release, int revision, TimeSpan wait) =>
        Helm(release, ["rollback", release.Name, Invariant(revision)], ["--wait", "--timeout", GoDuration(wait)]);

    /// <summary>helm, the subcommand and its arguments, the target's global flags, then the subcommand's flags.</summary>
    private CommandLine Helm(Release release, string[] subcommand, string[] flags)
    {
        var arguments = new List<string>(subcommand);
        if (release.Namespace is { } ns)
        {
            arguments.AddRange(["--namespace", ns]);
        }

        if (release.KubeContext is { } context)
        {
            arguments.AddRange(["--kube-context", context]);
        }

        arguments.AddRange(flags);
        return new CommandLine(options.Path, arguments);
    }

    private TimeSpan WaitTimeout(ActionRequest request) =>
        ((HelmTarget)request.Policy.Target).Timeout is { } t && t > TimeSpan.Zero ? t : options.DefaultWaitTimeout;

    /// <summary>A Go duration in whole seconds (<c>300s</c>), rounded up, as <c>helm --timeout</c> takes it.</summary>
    internal static string GoDuration(TimeSpan value) => Invariant(Math.Max(1, (long)Math.Ceiling(value.TotalSeconds))) + "s";

    private static Release Resolve(ActionRequest request)
    {
        if (request.Policy.Target is not HelmTarget target)
        {
            throw new ActionFailedException($"policy {request.Policy.Name} has a {request.Policy.Target.Kind} target, not a helm one");
        }

        var name = Render(target.Release, request, "release");
        var ns = target.Namespace is { } n ? Render(n, request, "namespace") : null;
        var context = string.IsNullOrWhiteSpace(target.KubeContext) ? null : target.KubeContext;
        return new Release(name, ns, context);
    }

    private static string Render(Template template, ActionRequest request, string what)
    {
        if (!template.TryRender(request.Incident.Labels, out var text, out var error))
        {
            throw new ActionFailedException($"cannot name the helm {what}: {error}");
        }

        return text.Trim().Length == 0 ? throw new ActionFailedException($"the helm {what} '{template}' renders empty for this incident's labels") : text;
    }

    private static int IntFact(ActionPlan plan, string name) =>
        int.TryParse(plan.Fact(name), NumberStyles.None, CultureInfo.InvariantCulture, out var n)
            ? n
            : throw new ActionFailedException($"the stored plan's '{name}' is not a revision number: {plan.Fact(name)}");

    private static string Invariant(long n) => n.ToString(CultureInfo.InvariantCulture);

    private sealed record Release(string Name, string? Namespace, string? KubeContext)
    {
        /// <summary><c>release shop in prod</c>, as outcomes name it.</summary>
        public string Where => Namespace is null ? $"release {Name}" : $"release {Name} in {Namespace}";
    }
}
