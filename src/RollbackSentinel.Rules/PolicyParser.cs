using System.Text.RegularExpressions;
using Quartz;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Core.State;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace RollbackSentinel.Rules;

/// <summary>A PromQL expression found in a rule file, with where it stands, for the server-side syntax check.</summary>
public sealed record QueryLocation(string File, int Line, int Column, string Field, string Query)
{
    /// <summary>The policy's <c>spec.backend</c>: null for the default backend.</summary>
    public string? Backend { get; init; }

    /// <summary>The policy the query belongs to (null when its name is missing or invalid).</summary>
    public string? Policy { get; init; }
}

/// <summary>What one file held: the policies that parsed cleanly, every diagnostic, and every query.</summary>
public sealed record FileParseResult(string File, IReadOnlyList<Policy> Policies, IReadOnlyList<RuleDiagnostic> Diagnostics, IReadOnlyList<QueryLocation> Queries)
{
    public bool HasErrors => Diagnostics.Any(d => d.Severity == DiagnosticSeverity.Error);

    /// <summary>The file's bytes as read (set by <see cref="RuleSetLoader"/>; empty when parsed from text): what <see cref="RulesVersion"/> digests.</summary>
    public ReadOnlyMemory<byte> Content { get; init; }

    /// <summary>The file is a rule test (<c>rollback-sentinel test</c>), not policies: it is skipped, and not counted as a rule file.</summary>
    public bool IsRuleTest { get; init; }

    /// <summary>Whether parsing consulted the file system beyond the file's text (a secret file's path): then it is never reused from a <see cref="RuleParseCache"/>.</summary>
    internal bool ConsultedFileSystem { get; init; }
}

/// <summary>
/// Parses <c>rollback-sentinel/v1</c> <c>RollbackPolicy</c> documents from YAML into the Core model,
/// reporting every problem with file, line, column and field. A document with errors yields no policy;
/// the other documents of the file still do.
/// </summary>
public static partial class PolicyParser
{
    public static readonly IReadOnlyList<string> TargetKinds = ["webhook", "kubectl", "helm", "haproxy"];

    private static readonly IReadOnlyList<string> ServerStates = ["ready", "drain", "maint"];

    /// <summary>What HAProxy accepts as a backend or server name, and all the runtime API adapter will send.</summary>
    private static bool IsHAProxyName(string name) =>
        name.Length > 0 && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or ':');

    /// <summary>The longest a kubectl or helm rollback may wait for its rollout (the daemon's action budget follows it).</summary>
    public static readonly TimeSpan MaxRolloutWait = TimeSpan.FromMinutes(30);
    public static readonly IReadOnlyList<string> TriggerKinds = ["errorRate", "burnRate", "latency", "availability", "threshold"];
    public static readonly IReadOnlyList<string> BaselineKinds = ["query", "offset", "beforeDeploy"];
    public static readonly IReadOnlyList<string> Actions = ["rollback", "page", "notify"];
    public static readonly IReadOnlyList<string> Operators = [">", ">=", "<", "<="];
    public static readonly IReadOnlyList<string> WorkloadKinds = ["Deployment", "StatefulSet", "DaemonSet", "Rollout"];

    /// <summary>The schedule when a policy sets none.</summary>
    public static readonly TimeSpan DefaultInterval = TimeSpan.FromSeconds(30);

    /// <param name="file">The file's name, for diagnostics.</param>
    /// <param name="text">Its text.</param>
    /// <param name="secretFiles">When given, every secret file a policy names must be one it allows (an error at the field otherwise).</param>
    public static FileParseResult Parse(string file, string text, SecretFileAccess? secretFiles = null)
    {
        ArgumentNullException.ThrowIfNull(file);
        ArgumentNullException.ThrowIfNull(text);
        try
        {
            return ParseText(file, text, secretFiles);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // A bug here must cost this file only: never the other files, `validate` or the daemon.
            return new FileParseResult(file, [], [new RuleDiagnostic(file, 1, 1, string.Empty,
                $"internal error while reading this file ({e.GetType().Name}: {e.Message}); please report it")], []);
        }
    }

    private static FileParseResult ParseText(string file, string text, SecretFileAccess? secretFiles)
    {
        var ctx = new ParseContext(file) { SecretFiles = secretFiles };
        var policies = new List<Policy>();
        var queries = new List<QueryLocation>();
        if (YamlDocuments.Load(ctx, text) is not { } stream)
        {
            return new FileParseResult(file, policies, ctx.Diagnostics, queries) { ConsultedFileSystem = ctx.ConsultedFileSystem };
        }

        if (RuleTestFileParser.IsRuleTestFile(stream))
        {
            // A rule test (rollback-sentinel test) kept beside the rules it tests: no policy, and nothing wrong.
            return new FileParseResult(file, policies, ctx.Diagnostics, queries) { IsRuleTest = true };
        }

        var anyDocument = false;
        foreach (var doc in stream.Documents)
        {
            var root = doc.RootNode;
            if (root is YamlScalarNode { Value: null or "" or "~" or "null" })
            {
                continue; // an empty document, e.g. after a trailing '---'
            }

            anyDocument = true;

            if (root is not YamlMappingNode map)
            {
                ctx.Error(root.Start, string.Empty, $"a policy document must be a mapping, got {MapReader.Describe(root)}");
                continue;
            }

            var errorsBefore = ctx.Diagnostics.Count(d => d.Severity == DiagnosticSeverity.Error);
            var docQueries = new List<QueryLocation>();
            var policy = ParsePolicy(new MapReader(ctx, map, string.Empty), docQueries);
            queries.AddRange(docQueries);
            if (policy is not null && ctx.Diagnostics.Count(d => d.Severity == DiagnosticSeverity.Error) == errorsBefore)
            {
                policies.Add(policy);
            }
        }

        if (!anyDocument)
        {
            // An empty file (or only comments) passing as "fine" hides a file that was truncated or never written.
            ctx.Warning(new Mark(0, 1, 1), string.Empty, "no policy in this file");
        }

        return new FileParseResult(file, policies, ctx.Diagnostics, queries) { ConsultedFileSystem = ctx.ConsultedFileSystem };
    }

    private static Policy? ParsePolicy(MapReader r, List<QueryLocation> queries)
    {
        var ctx = r.Context;
        var api = r.String("apiVersion", required: true, hint: Policy.ApiVersion);
        if (api is not null && api != Policy.ApiVersion)
        {
            ctx.Error(r.Node("apiVersion")!.Start, "apiVersion", $"must be '{Policy.ApiVersion}', got '{api}'");
        }

        var kind = r.String("kind", required: true, hint: Policy.Kind);
        if (kind is not null && kind != Policy.Kind)
        {
            ctx.Error(r.Node("kind")!.Start, "kind", $"must be '{Policy.Kind}', got '{kind}'");
        }

        string? name = null;
        YamlNode? nameNode = null;
        IReadOnlyDictionary<string, string> labels = new Dictionary<string, string>();
        if (r.Map("metadata", required: true) is { } meta)
        {
            name = meta.String("name", required: true);
            nameNode = meta.Node("name");
            if (name is not null && !PolicyName().IsMatch(name))
            {
                ctx.Error(meta.Node("name")!.Start, meta.Field("name"),
                    $"'{name}' is not a valid name: use lower-case letters, digits, '-' and '.', starting and ending with a letter or digit, at most 63 characters");
                name = null;
            }

            labels = StringMap(meta, "labels") ?? labels;
            meta.ReportUnknown();
        }

        var spec = r.Map("spec", required: true);
        r.ReportUnknown();
        if (spec is null)
        {
            return null;
        }

        var target = ParseTarget(spec);
        var schedule = ParseSchedule(spec);
        var cooldown = spec.Duration("cooldown") ?? Policy.DefaultCooldown;
        var dryRun = spec.Bool("dryRun") ?? false;
        var backend = ParseBackend(spec);
        var triggers = ParseTriggers(spec, queries, schedule);
        CheckTemplateLabels(spec, triggers);
        var confirm = ParseConfirm(spec);
        var notify = ParseNotify(spec);
        var watch = ParseWatch(spec, queries, target);
        WarnWhenNothingArms(spec, target, triggers, watch);
        var gate = ParseGate(spec);
        spec.ReportUnknown();

        for (var i = 0; i < queries.Count; i++)
        {
            queries[i] = queries[i] with { Backend = backend, Policy = name };
        }

        if (name is null || target is null || schedule is null)
        {
            return null;
        }

        return new Policy
        {
            Backend = backend,
            BackendSource = backend is null ? null : ctx.Location(spec.Node("backend")!),
            Name = name,
            Target = target,
            Schedule = schedule,
            Cooldown = cooldown,
            DryRun = dryRun,
            Triggers = triggers,
            Labels = labels,
            Confirm = confirm,
            Notify = notify,
            Watch = watch,
            Gate = gate,
            // Points at the name itself: duplicate-name errors and evidence lead straight to it.
            Source = ctx.Location(nameNode!),
        };
    }

    /// <summary><c>spec.backend</c>: the name of a metrics backend of the daemon's settings (<c>backends:</c>); absent for the default one.</summary>
    private static string? ParseBackend(MapReader spec)
    {
        var backend = spec.String("backend", hint: "the name of a backend in the settings' backends: map");
        if (backend is not null && !BackendName().IsMatch(backend))
        {
            spec.Context.Error(spec.Node("backend")!.Start, spec.Field("backend"),
                $"'{backend}' is not a backend name: use letters, digits, '-' and '_', starting with a letter, at most 63 characters");
            return null;
        }

        return backend;
    }

    public static readonly IReadOnlyList<string> OnTimeoutWords = ["rollback", "hold", "escalate"];

    public static readonly IReadOnlyList<string> OutsideWords = ["page", "notify", "rollback"];

    /// <summary>The longest watch window: a rollback armed for more than a month is a rollback armed always (say <c>outside: rollback</c>).</summary>
    public static readonly TimeSpan MaxWatchFor = TimeSpan.FromDays(31);

    /// <summary><c>watch</c>: how long after a change rollback triggers are armed, what they do outside, and where changes are found.</summary>
    private static WatchSettings ParseWatch(MapReader spec, List<QueryLocation> queries, Target? target)
    {
        if (spec.Map("watch") is not { } w)
        {
            return WatchSettings.Defaults;
        }

        var windowFor = w.Duration("for", min: TimeSpan.FromSeconds(1), max: MaxWatchFor) ?? WatchSettings.DefaultFor;
        var outside = w.Enum("outside", OutsideWords) ?? "page";
        var detect = DetectSettings.Defaults;
        if (w.Map("detect") is { } d)
        {
            var readTarget = d.Bool("target");
            if (readTarget == true && target is not null and not (KubectlTarget or HelmTarget))
            {
                // Only kubectl and Helm keep revisions the sentinel can read; saying "true" elsewhere would detect nothing, silently.
                d.Context.Error(d.Node("target")!.Start, d.Field("target"),
                    $"a {KindOf(target)} target has no revisions to read (only kubectl and helm targets have): record changes with " +
                    "`rollback-sentinel mark` or POST /api/v1/changes, or find them with watch.detect.query");
            }

            detect = new DetectSettings
            {
                Target = readTarget,
                Interval = d.Duration("interval", min: TimeSpan.FromSeconds(1), max: TimeSpan.FromHours(1)) ?? DetectSettings.DefaultInterval,
                Query = d.Has("query") ? Query(d, "query", queries) : null,
            };
            d.ReportUnknown();
        }

        var at = w.Context.Location(spec.Node("watch")!);
        w.ReportUnknown();
        return new WatchSettings { For = windowFor, Outside = Enum.Parse<OutsideAction>(outside, ignoreCase: true), Detect = detect, Source = at };
    }

    /// <summary>
    /// A warning for a <c>watch</c> block that nothing can satisfy by itself: rollback triggers, disarmed outside the window,
    /// a target with no revisions to read and no <c>detect.query</c>, so the triggers stay disarmed (they page) until a change
    /// is marked through the API. Not an error: a pipeline that marks every deploy needs nothing more, and says so with
    /// <c>detect.target: false</c>. A policy without a <c>watch</c> block is not warned about: it was valid before watch
    /// windows existed (docs/changes.md tells what changed for it).
    /// </summary>
    private static void WarnWhenNothingArms(MapReader spec, Target? target, IReadOnlyList<Trigger> triggers, WatchSettings watch)
    {
        if (target is null || watch.Source is null || watch.Outside == OutsideAction.Rollback || watch.Detect.Query is not null
            || watch.Detect.Target is not null || watch.Detect.ReadsTarget(target) || !triggers.Any(t => t.Action == TriggerAction.Rollback))
        {
            return;
        }

        spec.Context.Warning(spec.KeyMark("watch"), spec.Field("watch"),
            $"nothing detects changes for this policy (a {KindOf(target)} target has no revisions to read, and there is no detect.query): " +
            "its rollback triggers stay disarmed and page until a change is marked with `rollback-sentinel mark` or POST /api/v1/changes; " +
            "set detect.query to find changes in metrics, or detect.target: false to say that your pipeline marks every deploy");
    }

    private static string KindOf(Target target) => target switch
    {
        WebhookTarget => "webhook",
        HAProxyTarget => "haproxy",
        KubectlTarget => "kubectl",
        _ => "helm",
    };

    /// <summary><c>gate</c>: how many passing evaluations in a row after a change open the policy's gate.</summary>
    private static GateSettings ParseGate(MapReader spec)
    {
        if (spec.Map("gate") is not { } g)
        {
            return GateSettings.Defaults;
        }

        var minPasses = g.Integer("minPasses", 1, GateProgress.MaxPasses) ?? GateSettings.DefaultMinPasses;
        var at = g.Context.Location(spec.Node("gate")!);
        g.ReportUnknown();
        return new GateSettings { MinPasses = minPasses, Source = at };
    }

    /// <summary><c>confirm</c>: who may answer a page in chat, how long to wait, and what happens then.</summary>
    private static ConfirmSettings? ParseConfirm(MapReader spec)
    {
        if (spec.Map("confirm") is not { } c)
        {
            return null;
        }

        var approvers = new List<string>();
        if (c.Sequence("approvers") is { } list)
        {
            foreach (var item in list.Children)
            {
                if (item is YamlScalarNode { Value: { } id } && SlackId().IsMatch(id))
                {
                    approvers.Add(id);
                }
                else
                {
                    c.Context.Error(item.Start, c.Field("approvers"), $"'{(item as YamlScalarNode)?.Value}' is not a Slack user id (U…, W…) or user-group id (S…)");
                }
            }
        }

        var timeout = c.Duration("timeout", min: TimeSpan.FromSeconds(1), max: TimeSpan.FromDays(1)) ?? ConfirmSettings.DefaultTimeout;
        var onTimeout = c.Enum("onTimeout", OnTimeoutWords) ?? "hold";
        c.ReportUnknown();
        return new ConfirmSettings(approvers, timeout, Enum.Parse<OnTimeout>(onTimeout, ignoreCase: true));
    }

    /// <summary><c>notify</c>: this policy's Slack channel and PagerDuty routing key file, instead of the daemon's.</summary>
    private static NotifySettings ParseNotify(MapReader spec)
    {
        if (spec.Map("notify") is not { } n)
        {
            return NotifySettings.Defaults;
        }

        var channel = n.String("slackChannel");
        if (channel is not null && !SlackChannelId().IsMatch(channel))
        {
            n.Context.Error(n.Node("slackChannel")!.Start, n.Field("slackChannel"), $"'{channel}' is not a Slack channel id (C…, G…)");
            channel = null;
        }

        var routingKeyFile = SecretFile(n, "pagerdutyRoutingKeyFile");
        n.ReportUnknown();
        return new NotifySettings(channel, routingKeyFile);
    }

    /// <summary>A file of credentials the daemon will read: only from where the operator's settings allow.</summary>
    private static string? SecretFile(MapReader m, string key)
    {
        var path = m.String(key);
        m.Context.ConsultedFileSystem |= path is not null && m.Context.SecretFiles is not null;
        if (path is not null && m.Context.SecretFiles?.Problem(path) is { } problem)
        {
            m.Context.Error(m.Node(key)!.Start, m.Field(key), problem);
            return null;
        }

        return path;
    }

    [System.Text.RegularExpressions.GeneratedRegex("^[UWS][A-Z0-9]{2,}$")]
    private static partial System.Text.RegularExpressions.Regex SlackId();

    [System.Text.RegularExpressions.GeneratedRegex("^[CG][A-Z0-9]{2,}$")]
    private static partial System.Text.RegularExpressions.Regex SlackChannelId();

    private static Schedule? ParseSchedule(MapReader spec)
    {
        var s = spec.Map("schedule");
        if (s is null)
        {
            return spec.Has("schedule") ? null : new IntervalSchedule(DefaultInterval);
        }

        var kind = OneOf(s, ["interval", "cron"], required: true);
        Schedule? result = kind switch
        {
            "interval" => s.Duration("interval", min: TimeSpan.FromSeconds(1)) is { } i ? new IntervalSchedule(i) : null,
            "cron" => ParseCron(s),
            _ => null,
        };
        s.ReportUnknown();
        return result;
    }

    // Quartz appends advice about its own API ("call CronExpression.Parse(..., CronFormat.Unix)"), which a
    // policy author cannot act on; keep its description of the problem only.
    private static string CronProblem(string message)
    {
        var advice = message.IndexOf(" Or read it as written", StringComparison.Ordinal);
        return (advice >= 0 ? message[..advice] : message).TrimEnd();
    }

    private static CronSchedule? ParseCron(MapReader s)
    {
        var expr = s.String("cron", required: true);
        if (expr is null)
        {
            return null;
        }

        try
        {
            var cron = CronExpression.Parse(expr);
            if (cron.GetNextValidTimeAfter(DateTimeOffset.UnixEpoch) is null)
            {
                s.Context.Error(s.Node("cron")!.Start, s.Field("cron"), $"'{expr}' never fires (e.g. February 30th): the policy would never be evaluated");
                return null;
            }

            return new CronSchedule(expr);
        }
        catch (FormatException e)
        {
            s.Context.Error(s.Node("cron")!.Start, s.Field("cron"),
                $"'{expr}' is not a valid Quartz cron expression (seconds first, e.g. \"0/15 * * * * ?\"): {CronProblem(e.Message)}");
            return null;
        }
    }

    private static Target? ParseTarget(MapReader spec)
    {
        var t = spec.Map("target", required: true, hint: "one of " + string.Join(", ", TargetKinds));
        if (t is null)
        {
            return null;
        }

        var kind = OneOf(t, TargetKinds, required: true);
        var block = kind is null ? null : t.Map(kind);
        t.ReportUnknown();
        if (block is null)
        {
            return null;
        }

        Target? target = kind switch
        {
            "webhook" => ParseWebhook(block),
            "kubectl" => ParseKubectl(block),
            "helm" => ParseHelm(block),
            _ => ParseHAProxy(block),
        };
        block.ReportUnknown();
        return target;
    }

    private static WebhookTarget? ParseWebhook(MapReader w)
    {
        var url = TemplateField(w, "url", required: true);
        var secretFile = SecretFile(w, "secretFile");
        var idempotencyKey = TemplateField(w, "idempotencyKey");
        var timeout = w.Duration("timeout", min: TimeSpan.FromMilliseconds(100));
        if (url is not null && url.IsConstant && !IsHttpUrl(url.Text))
        {
            w.Context.Error(w.Node("url")!.Start, w.Field("url"), $"'{url.Text}' is not an absolute http:// or https:// URL");
            return null;
        }

        return url is null ? null : new WebhookTarget(url) { SecretFile = secretFile, Timeout = timeout, IdempotencyKey = idempotencyKey };
    }

    private static KubectlTarget? ParseKubectl(MapReader k)
    {
        var kind = k.Enum("kind", WorkloadKinds) ?? "Deployment";
        var name = TemplateField(k, "name", required: true);
        var ns = TemplateField(k, "namespace");
        var context = k.String("context");
        var kubeconfig = SecretFile(k, "kubeconfig");
        var toRevision = k.Integer("toRevision", 1, int.MaxValue);
        var timeout = k.Duration("timeout", min: TimeSpan.FromSeconds(1), max: MaxRolloutWait);
        return name is null
            ? null
            : new KubectlTarget(Enum.Parse<WorkloadKind>(kind), name) { Namespace = ns, Context = context, Kubeconfig = kubeconfig, ToRevision = toRevision, Timeout = timeout };
    }

    private static HelmTarget? ParseHelm(MapReader h)
    {
        var release = TemplateField(h, "release", required: true);
        var ns = TemplateField(h, "namespace");
        var kubeContext = h.String("kubeContext");
        var timeout = h.Duration("timeout", min: TimeSpan.FromSeconds(1), max: MaxRolloutWait);
        return release is null ? null : new HelmTarget(release) { Namespace = ns, KubeContext = kubeContext, Timeout = timeout };
    }

    private static HAProxyTarget? ParseHAProxy(MapReader h)
    {
        var api = h.String("runtimeApi", required: true, hint: "unix:///run/haproxy/admin.sock or tcp://127.0.0.1:9999");
        Uri? uri = null;
        if (api is not null)
        {
            if (Uri.TryCreate(api, UriKind.Absolute, out var u) && (u.Scheme == "unix" || (u.Scheme == "tcp" && u.Port > 0)))
            {
                uri = u;
            }
            else
            {
                h.Context.Error(h.Node("runtimeApi")!.Start, h.Field("runtimeApi"),
                    $"'{api}' is not a runtime API address: use unix:///path/to/socket or tcp://host:port");
            }
        }

        var backend = h.String("backend", required: true);
        if (backend is not null && !IsHAProxyName(backend))
        {
            h.Context.Error(h.Node("backend")!.Start, h.Field("backend"), $"'{backend}' is not an HAProxy backend name (letters, digits, '-', '_', '.', ':')");
            backend = null;
        }

        foreach (var block in new[] { "weights", "states" })
        {
            if (h.Node(block) is YamlMappingNode servers)
            {
                foreach (var key in servers.Children.Keys.OfType<YamlScalarNode>().Where(k => !IsHAProxyName(k.Value ?? "")))
                {
                    h.Context.Error(key.Start, h.Field(block) + "." + key.Value, $"'{key.Value}' is not an HAProxy server name (letters, digits, '-', '_', '.', ':')");
                    backend = null;
                }
            }
        }
        var weights = new Dictionary<string, int>(StringComparer.Ordinal);
        var hasStates = h.Node("states") is not null;
        if (h.Map("weights", required: !hasStates, hint: "server name -> weight (0-256) to set on rollback") is { } w)
        {
            foreach (var server in w.Present([.. ((YamlMappingNode)h.Node("weights")!).Children.Keys.OfType<YamlScalarNode>().Select(k => k.Value!)]))
            {
                if (w.Integer(server, 0, 256) is { } weight)
                {
                    weights[server] = weight;
                }
            }

            if (w.IsEmpty)
            {
                h.Context.Error(w.Start, h.Field("weights"), "must name at least one server");
            }
        }

        var states = new Dictionary<string, HAProxyServerState>(StringComparer.Ordinal);
        if (h.Map("states", hint: "server name -> ready, drain or maint to set on rollback") is { } s)
        {
            foreach (var server in s.Present([.. ((YamlMappingNode)h.Node("states")!).Children.Keys.OfType<YamlScalarNode>().Select(k => k.Value!)]))
            {
                if (s.Enum(server, ServerStates) is { } state)
                {
                    states[server] = Enum.Parse<HAProxyServerState>(state, ignoreCase: true);
                }
            }

            if (s.IsEmpty)
            {
                h.Context.Error(s.Start, h.Field("states"), "must name at least one server");
            }
        }

        var timeout = h.Duration("timeout", min: TimeSpan.FromMilliseconds(100));
        return uri is null || backend is null || (weights.Count == 0 && states.Count == 0)
            ? null
            : new HAProxyTarget(uri, backend, weights) { States = states, Timeout = timeout };
    }

    private static List<Trigger> ParseTriggers(MapReader spec, List<QueryLocation> queries, Schedule? schedule)
    {
        var ctx = spec.Context;
        var result = new List<Trigger>();
        var seq = spec.Sequence("triggers", required: true);
        if (seq is null)
        {
            return result;
        }

        if (seq.Children.Count == 0)
        {
            ctx.Error(seq.Start, "spec.triggers", "must list at least one trigger");
            return result;
        }

        var names = new Dictionary<string, Mark>(StringComparer.Ordinal);
        for (var i = 0; i < seq.Children.Count; i++)
        {
            var path = $"spec.triggers[{i}]";
            if (seq.Children[i] is not YamlMappingNode m)
            {
                ctx.Error(seq.Children[i].Start, path, $"a trigger must be a mapping, got {MapReader.Describe(seq.Children[i])}");
                continue;
            }

            var t = new MapReader(ctx, m, path);
            var name = t.String("name", required: true);
            if (name is not null)
            {
                if (!TriggerName().IsMatch(name))
                {
                    ctx.Error(t.Node("name")!.Start, t.Field("name"), $"'{name}' is not a valid trigger name: use letters, digits, '-' and '_'");
                    name = null;
                }
                else if (!names.TryAdd(name, t.Node("name")!.Start))
                {
                    ctx.Error(t.Node("name")!.Start, t.Field("name"), $"trigger name '{name}' is used twice in this policy (first at line {names[name].Line})");
                }
            }

            var kind = OneOf(t, TriggerKinds, required: true);
            TriggerCondition? condition = kind is null ? null : t.Map(kind) is { } block ? ParseCondition(kind, block, queries) : null;
            var forDuration = t.Duration("for") ?? TimeSpan.Zero;
            if (schedule is IntervalSchedule interval && forDuration > TimeSpan.Zero && forDuration < interval.Interval)
            {
                ctx.Warning(t.Node("for")!.Start, t.Field("for"),
                    $"'for' ({PromDuration.Format(forDuration)}) is shorter than the interval ({PromDuration.Format(interval.Interval)}): the trigger fires on its second breaching evaluation");
            }

            var action = t.Enum("action", Actions, required: true);
            var noData = t.Enum("noData", ["inconclusive", "breach"]);
            var limit = t.Integer("inconclusiveLimit", 1, 10_000);
            t.ReportUnknown();

            if (name is null || condition is null || action is null)
            {
                continue;
            }

            result.Add(new Trigger
            {
                Name = name,
                Condition = condition,
                For = forDuration,
                Action = Enum.Parse<TriggerAction>(action, ignoreCase: true),
                NoData = noData == "breach" ? NoDataPolicy.Breach : NoDataPolicy.Inconclusive,
                InconclusiveLimit = limit ?? Trigger.DefaultInconclusiveLimit,
                Source = ctx.Location(m),
            });
        }

        return result;
    }

    private static TriggerCondition? ParseCondition(string kind, MapReader c, List<QueryLocation> queries)
    {
        TriggerCondition? result;
        switch (kind)
        {
            case "errorRate":
                var errors = Query(c, "errors", queries);
                var total = Query(c, "total", queries);
                var max = c.Number("max", required: true, min: 0, max: 1, hint: "the error ratio above which it breaches, e.g. 0.05");
                var minTotal = c.Number("minTotal", required: true, min: 0,
                    hint: "the total below which the ratio means nothing and the verdict is inconclusive, e.g. 0.5");
                result = errors is null || total is null || max is null || minTotal is null ? null : new ErrorRateCondition(errors, total, max.Value, minTotal.Value);
                break;

            case "burnRate":
                result = ParseBurnRate(c, queries);
                break;

            case "latency":
                var query = Query(c, "query", queries);
                var baseline = ParseBaseline(c, queries);
                var maxRatio = c.Number("maxRatio", min: 0, minExclusive: true);
                var maxIncrease = Seconds(c, "maxIncrease");
                if (!c.Has("maxRatio") && !c.Has("maxIncrease"))
                {
                    c.Context.Error(c.Start, c.Path, "a latency trigger needs a threshold: maxRatio, maxIncrease or both");
                }

                result = query is null || baseline is null || (maxRatio is null && maxIncrease is null) || (c.Has("maxRatio") && maxRatio is null)
                    ? null
                    : new LatencyCondition(query, baseline, maxRatio, maxIncrease);
                break;

            case "availability":
                var aq = Query(c, "query", queries);
                var min = c.Number("min", required: true, hint: "breach when the value is below it, e.g. 0.95");
                result = aq is null || min is null ? null : new AvailabilityCondition(aq, min.Value);
                break;

            default:
                var tq = Query(c, "query", queries);
                var op = c.Enum("op", Operators, required: true);
                var value = c.Number("value", required: true);
                result = tq is null || op is null || value is null ? null : new ThresholdCondition(tq, ComparisonOperatorExtensions.FromSymbol(op)!.Value, value.Value);
                break;
        }

        c.ReportUnknown();
        return result;
    }

    private static Baseline? ParseBaseline(MapReader c, List<QueryLocation> queries)
    {
        var b = c.Map("baseline", required: true, hint: "one of query, offset, beforeDeploy");
        if (b is null)
        {
            return null;
        }

        var kind = OneOf(b, BaselineKinds, required: true);
        Baseline? result = kind switch
        {
            "query" => Query(b, "query", queries) is { } q ? new QueryBaseline(q) : null,
            "offset" => b.Duration("offset", min: TimeSpan.FromSeconds(1)) is { } o ? new OffsetBaseline(o) : null,
            "beforeDeploy" => b.Duration("beforeDeploy", min: TimeSpan.FromSeconds(1)) is { } w ? new BeforeDeployBaseline(w) : null,
            _ => null,
        };
        b.ReportUnknown();
        return result;
    }

    /// <summary>A duration (<c>50ms</c>) or a plain number of seconds (<c>0.05</c>).</summary>
    private static double? Seconds(MapReader c, string key)
    {
        var node = c.Node(key);
        if (node is null)
        {
            return null;
        }

        if (node is YamlScalarNode s && double.TryParse(s.Value, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var n))
        {
            if (n < 0 || !double.IsFinite(n))
            {
                c.Context.Error(node.Start, c.Field(key), $"must be a finite number that is not negative, got {s.Value}");
                return null;
            }

            return n;
        }

        return c.Duration(key) is { } d ? d.TotalSeconds : null;
    }

    /// <param name="r">The mapping holding the query.</param>
    /// <param name="key">Its field.</param>
    /// <param name="queries">Where the query is recorded for the backend checks.</param>
    /// <param name="window">
    /// For a burn-rate query: it must hold <see cref="BurnRateCondition.WindowPlaceholder"/>, and is checked (and recorded)
    /// with this window in its place, as it is sent.
    /// </param>
    private static string? Query(MapReader r, string key, List<QueryLocation> queries, TimeSpan? window = null)
    {
        var q = r.String(key, required: true, hint: "a PromQL expression");
        if (q is null)
        {
            return null;
        }

        var node = r.Node(key)!;
        if (window is not null && !q.Contains(BurnRateCondition.WindowPlaceholder, StringComparison.Ordinal))
        {
            r.Context.Error(node.Start, r.Field(key),
                $"must contain {BurnRateCondition.WindowPlaceholder} where each window goes, e.g. sum(rate(http_requests_total[{BurnRateCondition.WindowPlaceholder}]))");
            return null;
        }

        var sent = window is { } w ? BurnRateCondition.Over(q, w) : q;
        if (PromQlLint.Check(sent) is { } problem)
        {
            r.Context.Error(node.Start, r.Field(key), $"invalid PromQL: {problem}");
            return null;
        }

        queries.Add(new QueryLocation(r.Context.File, (int)node.Start.Line, (int)node.Start.Column, r.Field(key), sent));
        return q.Trim();
    }

    private static Template? TemplateField(MapReader r, string key, bool required = false)
    {
        var text = r.String(key, required);
        if (text is null)
        {
            return null;
        }

        if (!Template.TryParse(text, out var template, out var error))
        {
            r.Context.Error(r.Node(key)!.Start, r.Field(key), error);
            return null;
        }

        return template;
    }

    /// <summary>A mapping of strings to strings (labels), each bad value an error; null when absent.</summary>
    internal static Dictionary<string, string>? StringMap(MapReader r, string key)
    {
        if (r.Map(key) is not { } m)
        {
            return null;
        }

        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var name in m.Present([.. ((YamlMappingNode)r.Node(key)!).Children.Keys.OfType<YamlScalarNode>().Select(k => k.Value!)]))
        {
            if (m.String(name) is { } v)
            {
                result[name] = v;
            }
        }

        return result;
    }

    /// <summary>Exactly one of <paramref name="keys"/> must be present; reports none or several.</summary>
    private static string? OneOf(MapReader r, IReadOnlyList<string> keys, bool required)
    {
        var present = r.Present([.. keys]);
        if (present.Length == 1)
        {
            return present[0];
        }

        if (present.Length == 0)
        {
            if (required)
            {
                r.Context.Error(r.Start, r.Path, $"needs exactly one of {string.Join(", ", keys)}");
            }

            return null;
        }

        r.Context.Error(r.KeyMark(present[1]), r.Field(present[1]),
            $"only one of {string.Join(", ", keys)} may be set, found {string.Join(" and ", present)}");
        return null;
    }

    private static bool IsHttpUrl(string text) =>
        Uri.TryCreate(text, UriKind.Absolute, out var u) && (u.Scheme == Uri.UriSchemeHttp || u.Scheme == Uri.UriSchemeHttps);

    [GeneratedRegex("^[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?$")]
    private static partial Regex PolicyName();

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")]
    private static partial Regex TriggerName();

    /// <summary>A backend name: also a settings key (<c>backends:NAME:url</c>), so no ':' or '.'.</summary>
    [GeneratedRegex("^[A-Za-z][A-Za-z0-9_-]{0,62}$")]
    public static partial Regex BackendName();
}
