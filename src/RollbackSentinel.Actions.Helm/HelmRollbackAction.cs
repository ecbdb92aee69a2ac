using System.ComponentModel;
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Polly;
using Polly.Retry;
using RollbackSentinel.Actions.Processes;
using RollbackSentinel.Core.Policies;

namespace RollbackSentinel.Actions.Helm;

/// <summary>
/// <c>helm rollback</c> of a release to the last revision deployed before the bad one. The plan reads the
/// release's history once. The bad revision is the latest one when it is <c>failed</c> and newer than the last
/// <c>deployed</c> one (a failed <c>helm upgrade --wait</c> leaves the cluster running part of it), and the return
/// target is then that deployed revision; otherwise the bad revision is the deployed one and the return target the
/// highest earlier revision that was deployed (failed revisions are skipped). A release whose current revision is a
/// rollback younger than the policy's cooldown is left alone (a second sentinel, a second incident); an older one,
/// or a failed rollback, is refused so that humans look: a sentinel never walks back through history.
/// Executing re-reads the history and rolls back whenever the release still runs the bad revision. It reports
/// "already there" only when a newer revision is a rollback to the planned one, or has its chart, app version and
/// values. Reads are retried; the rollback itself runs at most once per execution, with <c>--wait</c>, and is
/// verified by reading the history back.
/// </summary>
internal sealed partial class HelmRollbackAction(ICommandRunner runner, HelmOptions options, TimeProvider time) : IRollbackAction
{
    public const int HistoryMax = 50;

    /// <summary>Helm's limit on release names (<c>chartutil.ValidateReleaseName</c>).</summary>
    public const int MaxReleaseNameLength = 53;

    /// <summary>A DNS-1123 label, as Kubernetes requires of namespace names.</summary>
    public const int MaxNamespaceLength = 63;

    private const string FactRelease = "release";
    private const string FactNamespace = "namespace";
    private const string FactKubeContext = "kubeContext";
    private const string FactFromRevision = "fromRevision";
    private const string FactFromChart = "fromChart";
    private const string FactFromAppVersion = "fromAppVersion";
    private const string FactToRevision = "toRevision";
    private const string FactToChart = "toChart";
    private const string FactToAppVersion = "toAppVersion";
    private const string FactNoop = "noop";

    public string Kind => "helm";

    public async Task<ActionPlan> PlanAsync(RollbackRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var release = Resolve(request);
        var history = await HistoryAsync(release, cancellationToken).ConfigureAwait(false);
        var current = history.Head(release.Where);
        var facts = new Dictionary<string, string>
        {
            [FactRelease] = release.Name,
            [FactKubeContext] = release.KubeContext ?? "",
        };
        if (release.Namespace is { } ns)
        {
            facts[FactNamespace] = ns;
        }

        facts[FactFromRevision] = Invariant(current.Revision);
        facts[FactFromChart] = current.Chart;
        facts[FactFromAppVersion] = current.AppVersion ?? "";
        if (current.IsRollback)
        {
            // Deployed (Head refuses failed rollbacks): recent means another sentinel, or this incident's own
            // earlier run, already acted; old means the release broke again after a rollback, and a sentinel must
            // not step further back through history on its own.
            var cooldown = request.Cooldown;
            var at = request.DecidedAt;
            if (current.UpdatedAt is not { } updated || at - updated >= cooldown)
            {
                var age = current.UpdatedAt is { } u && at >= u
                    ? $", {PromDuration.Format(TimeSpan.FromSeconds(Math.Floor((at - u).TotalSeconds)))} before the decision"
                    : "";
                throw new ActionFailedException(
                    $"{release.Where} runs a rollback (revision {current.Revision}: {current.Description}, at {current.When}{age}), "
                    + $"older than the cooldown ({PromDuration.Format(cooldown)}); a sentinel never steps further back through history: humans must look");
            }

            facts[FactNoop] = "true";
            return new ActionPlan($"leave {release.Where} as it is: it already runs a rollback (revision {current.Revision}: {current.Description}, at {current.When})")
            {
                Before = current.ToString(),
                After = current.ToString(),
                Facts = facts,
            };
        }

        var target = history.ReturnTarget(current)
            ?? throw new ActionFailedException(
                $"{release.Where} has no earlier deployed revision to roll back to (it runs {current}; none of the {history.Revisions.Count(r => r.Revision < current.Revision)} revisions before it in the last {HistoryMax} was deployed)");

        facts[FactToRevision] = Invariant(target.Revision);
        facts[FactToChart] = target.Chart;
        facts[FactToAppVersion] = target.AppVersion ?? "";
        return new ActionPlan($"roll {release.Where} back from {current} to {target}")
        {
            Steps = [RollbackCommand(release, target.Revision, WaitTimeout(request)).ToString()],
            Before = current.ToString(),
            After = $"a new revision = rollback to {target.Revision} ({target.Chart})",
            Facts = facts,
        };
    }

    public async Task<ActionResult> ExecuteAsync(RollbackRequest request, ActionPlan plan, bool dryRun, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(plan);
        Release release;
        Planned to;
        int from;
        try
        {
            release = Resolve(request);
            var planned = new Release(
                plan.Fact(FactRelease),
                plan.Facts.GetValueOrDefault(FactNamespace),
                plan.Facts.TryGetValue(FactKubeContext, out var c) ? (c.Length == 0 ? null : c) : release.KubeContext);
            if (planned != release)
            {
                return ActionResult.Failure($"the plan was made for {planned.Full} but the policy now names {release.Full}: nothing done");
            }

            if (plan.Facts.ContainsKey(FactNoop))
            {
                return dryRun ? ActionResult.DryRun(plan) : ActionResult.Unchanged($"nothing to do: {plan.Summary}", plan.Before);
            }

            from = IntFact(plan, FactFromRevision);
            to = new Planned(IntFact(plan, FactToRevision), plan.Fact(FactToChart), plan.Facts.GetValueOrDefault(FactToAppVersion));
        }
        catch (ActionFailedException e)
        {
            return ActionResult.Failure(e.Message);
        }

        string? before = null;
        try
        {
            var history = await HistoryAsync(release, cancellationToken).ConfigureAwait(false);
            var current = history.Head(release.Where);
            before = current.ToString();
            if (current.Revision == from)
            {
                // Still the bad revision: roll back, however much it looks like the target (CI may have changed only
                // the app version or an image inside an unchanged chart version).
                return dryRun
                    ? ActionResult.DryRun(plan) with { Before = before, After = before }
                    : await RollbackAsync(request, release, current, to, cancellationToken).ConfigureAwait(false);
            }

            if (current.Revision > from && current.IsDeployed
                && await AlreadyThereAsync(release, history, current, to, cancellationToken).ConfigureAwait(false) is { } already)
            {
                var outcome = $"{release.Where} {already} ({current}): nothing to do";
                return dryRun
                    ? ActionResult.DryRun(plan) with { Outcome = "dry-run: " + outcome, Before = before, After = before }
                    : ActionResult.Unchanged(outcome, before);
            }

            return ActionResult.Failure(
                $"the release moved on since the incident was decided (now {current}; the plan was to roll back revision {from} to {to.Revision}): nothing done",
                before);
        }
        catch (ActionFailedException e)
        {
            return ActionResult.Failure(e.Message, before);
        }
    }

    private async Task<ActionResult> RollbackAsync(RollbackRequest request, Release release, HelmRevision current, Planned planned, CancellationToken cancellationToken)
    {
        var to = planned.Revision;
        var wait = WaitTimeout(request);
        var command = RollbackCommand(release, to, wait);
        string? error = null;
        var helmAnswered = false;
        try
        {
            // Never retried: a rollback that failed or timed out may have done part of its work; the history says what.
            var output = await runner.RunAsync(command, wait + options.CommandTimeout, cancellationToken).ConfigureAwait(false);
            if (!output.Succeeded)
            {
                helmAnswered = true;
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
            // Another sentinel (or a human) rolled back to the same revision at the same moment: Helm refuses the
            // second rollback. Its revision, done, or still in progress when Helm itself answered with an error
            // (when helm was stopped, a pending revision may be this run's own, stuck: that is a failure).
            if (latest is not null && latest.Revision > current.Revision && latest.RolledBackTo == to
                && (latest.IsDeployed || (latest.Status == "pending-rollback" && helmAnswered)))
            {
                return ActionResult.Unchanged(
                    $"another rollback to {to} is in progress or done: revision {latest.Revision}, {latest.Status}, at {latest.When} ({error})",
                    current.ToString()) with { After = latest.ToString() };
            }

            return ActionResult.Failure($"{error}; {now}", current.ToString());
        }

        var deployed = after.LastDeployed;
        if (deployed is null || deployed.Revision <= current.Revision || deployed.RolledBackTo != to || deployed != latest)
        {
            return ActionResult.Failure(
                $"helm rollback of {release.Where} to revision {to} reported success but the history does not show it ({now})",
                current.ToString());
        }

        var chart = deployed.Chart == planned.Chart && (planned.AppVersion is null || (deployed.AppVersion ?? "") == planned.AppVersion)
            ? ""
            : $" (expected chart {planned.Chart}{(planned.AppVersion is { Length: > 0 } v ? $", app version {v}" : "")})";
        return ActionResult.Changed(
            $"rolled {release.Where} back from {current} to revision {to} ({planned.Chart}): now {deployed}{chart}",
            current.ToString(),
            deployed.ToString());
    }

    /// <summary>
    /// Whether <paramref name="current"/>, a deployed revision newer than the planned bad one, already is where the plan
    /// leads: a rollback to the planned revision, or the same chart, app version and user-supplied values. Says how, or null.
    /// </summary>
    private async Task<string?> AlreadyThereAsync(Release release, HelmHistory history, HelmRevision current, Planned to, CancellationToken cancellationToken)
    {
        if (current.RolledBackTo == to.Revision)
        {
            return $"already runs a rollback to revision {to.Revision}";
        }

        // Plans made before app versions were stored: the target's app version as the history shows it.
        var appVersion = to.AppVersion ?? (history.Find(to.Revision) is { } planned ? planned.AppVersion ?? "" : null);
        if (current.Chart != to.Chart || appVersion is null || (current.AppVersion ?? "") != appVersion)
        {
            return null;
        }

        // Both by number: without --revision, helm get values reads the latest revision, which may be a failed one.
        using var wanted = await ValuesAsync(release, to.Revision, cancellationToken).ConfigureAwait(false);
        using var running = await ValuesAsync(release, current.Revision, cancellationToken).ConfigureAwait(false);
        return JsonElement.DeepEquals(wanted.RootElement, running.RootElement)
            ? $"already runs the chart, app version and values of revision {to.Revision}"
            : null;
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

    private TimeSpan WaitTimeout(RollbackRequest request) =>
        ((HelmTarget)request.Target.Definition).Timeout is { } t && t > TimeSpan.Zero ? t : options.DefaultWaitTimeout;

    /// <summary>A Go duration in whole seconds (<c>300s</c>), rounded up, as <c>helm --timeout</c> takes it.</summary>
    internal static string GoDuration(TimeSpan value) => Invariant(Math.Max(1, (long)Math.Ceiling(value.TotalSeconds))) + "s";

    /// <summary>
    /// The release, namespace and context this request names, each checked before any helm runs: the release and the
    /// namespace are rendered from series labels, and become a positional argument and a flag value.
    /// </summary>
    private static Release Resolve(RollbackRequest request)
    {
        if (request.Target.Definition is not HelmTarget target || request.Target.Name is not { } release)
        {
            throw new ActionFailedException($"policy {request.Policy} has a {request.Target.Kind} target, not a helm one");
        }

        var name = Render(release, "release");
        if (name.Length > MaxReleaseNameLength || !ReleaseName().IsMatch(name))
        {
            throw new ActionFailedException(
                $"the helm release {Show(name)} (from '{target.Release}') is not a valid Helm release name (lowercase letters, digits, '-' and '.', "
                + $"starting and ending with a letter or digit, at most {MaxReleaseNameLength} characters): not running helm with it");
        }

        string? ns = null;
        if (target.Namespace is { } n && request.Target.Namespace is { } renderedNs)
        {
            ns = Render(renderedNs, "namespace");
            if (ns.Length > MaxNamespaceLength || !NamespaceName().IsMatch(ns))
            {
                throw new ActionFailedException(
                    $"the helm namespace {Show(ns)} (from '{n}') is not a valid Kubernetes namespace (a DNS-1123 label: lowercase letters, digits and '-', "
                    + $"starting and ending with a letter or digit, at most {MaxNamespaceLength} characters): not running helm with it");
            }
        }

        var context = string.IsNullOrWhiteSpace(target.KubeContext) ? null : target.KubeContext;
        if (context is not null && (context.StartsWith('-') || context.Any(char.IsControl)))
        {
            throw new ActionFailedException($"the kube context {Show(context)} starts with '-' or holds control characters: not running helm with it");
        }

        return new Release(name, ns, context);
    }

    private static string Render(RenderedText rendered, string what)
    {
        var template = rendered.Template;
        if (!rendered.TryGet(out var text, out var error))
        {
            throw new ActionFailedException($"cannot name the helm {what}: {error}");
        }

        return text.Trim().Length == 0 ? throw new ActionFailedException($"the helm {what} '{template}' renders empty for this incident's labels") : text;
    }

    /// <summary>A value as an outcome quotes it: JSON-escaped, so control characters and newlines show.</summary>
    private static string Show(string value) => JsonSerializer.Serialize(value.Length > 100 ? value[..100] + "..." : value, HelmJsonContext.Default.String);

    private static int IntFact(ActionPlan plan, string name) =>
        int.TryParse(plan.Fact(name), NumberStyles.None, CultureInfo.InvariantCulture, out var n)
            ? n
            : throw new ActionFailedException($"the stored plan's '{name}' is not a revision number: {plan.Fact(name)}");

    private static string Invariant(long n) => n.ToString(CultureInfo.InvariantCulture);

    /// <summary>Helm's release name rule (<c>chartutil.ValidateReleaseName</c>), anchored at the very end (no trailing newline).</summary>
    [GeneratedRegex(@"\A[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\z", RegexOptions.CultureInvariant)]
    internal static partial Regex ReleaseName();

    /// <summary>A DNS-1123 label.</summary>
    [GeneratedRegex(@"\A[a-z0-9]([-a-z0-9]*[a-z0-9])?\z", RegexOptions.CultureInvariant)]
    internal static partial Regex NamespaceName();

    /// <summary>The revision a plan returns to, with the chart and app version it had when planned (null: not stored).</summary>
    private sealed record Planned(int Revision, string Chart, string? AppVersion);

    private sealed record Release(string Name, string? Namespace, string? KubeContext)
    {
        /// <summary><c>release shop in prod</c>, as outcomes name it.</summary>
        public string Where => Namespace is null ? $"release {Name}" : $"release {Name} in {Namespace}";

        /// <summary><c>release shop in prod (kube context prod-eu)</c>, when the context matters.</summary>
        public string Full => KubeContext is null ? Where : $"{Where} (kube context {KubeContext})";
    }
}
