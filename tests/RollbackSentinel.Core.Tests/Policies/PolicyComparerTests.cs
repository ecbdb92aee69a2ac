using System.Reflection;
using RollbackSentinel.Core.Policies;

namespace RollbackSentinel.Core.Tests.Policies;

/// <summary>
/// A reload touches only what changed, and nothing that changed is missed: every setting the daemon runs, edited
/// alone, makes the policy a different definition; a re-read copy (new collections, other source locations) does not.
/// </summary>
public sealed class PolicyComparerTests
{
    private static readonly SourceLocation Here = new("a.yaml", 4, 9);
    private static readonly SourceLocation Elsewhere = new("a.yaml", 40, 9);

    private static Policy Webhook(SourceLocation? at = null) => new()
    {
        Name = "checkout",
        Target = new WebhookTarget(Template.Parse("https://deploy.example.com/rollback/{{ labels.deployment }}"))
        {
            SecretFile = "/etc/sentinel/hook-secret",
            Timeout = TimeSpan.FromSeconds(10),
            IdempotencyKey = Template.Parse("{{ labels.deployment }}"),
        },
        Schedule = new IntervalSchedule(TimeSpan.FromSeconds(15)),
        Cooldown = TimeSpan.FromMinutes(20),
        Labels = new Dictionary<string, string> { ["team"] = "payments" },
        Triggers =
        [
            new Trigger
            {
                Name = "errors",
                Condition = new ErrorRateCondition("sum(rate(errors_total[1m]))", "sum(rate(requests_total[1m]))", 0.05, 1),
                For = TimeSpan.FromMinutes(2),
                Action = TriggerAction.Page,
                Source = at,
            },
        ],
        Confirm = new ConfirmSettings(["U024BE7LH", "S0614TZR7"], TimeSpan.FromMinutes(15), OnTimeout.Hold),
        Notify = new NotifySettings("#payments", "/etc/sentinel/pd-key"),
        Watch = new WatchSettings
        {
            For = TimeSpan.FromHours(1),
            Detect = new DetectSettings { Target = true, Interval = TimeSpan.FromSeconds(30), Query = "count by (version) (app_build_info)" },
            Source = at,
        },
        Gate = new GateSettings { MinPasses = 3, Source = at },
        Source = at,
    };

    private static Policy HAProxy(SourceLocation? at = null) => Webhook(at) with
    {
        Target = new HAProxyTarget(new Uri("tcp://127.0.0.1:9999"), "app", new Dictionary<string, int> { ["blue"] = 100, ["green"] = 0 })
        {
            States = new Dictionary<string, HAProxyServerState> { ["green"] = HAProxyServerState.Drain },
            Timeout = TimeSpan.FromSeconds(5),
        },
    };

    private static Policy Kubectl() => Webhook() with
    {
        Target = new KubectlTarget(WorkloadKind.Deployment, Template.Parse("{{ labels.deployment }}"))
        {
            Namespace = Template.Parse("shop"),
            Context = "prod",
            Kubeconfig = "/etc/sentinel/kubeconfig",
            ToRevision = 3,
            Timeout = TimeSpan.FromMinutes(2),
        },
    };

    private static Policy Helm() => Webhook() with
    {
        Target = new HelmTarget(Template.Parse("checkout")) { Namespace = Template.Parse("shop"), KubeContext = "prod", Timeout = TimeSpan.FromMinutes(2) },
    };

    private static Policy EditTrigger(Policy p, Func<Trigger, Trigger> edit) => p with { Triggers = [edit(p.Triggers[0])] };

    /// <summary>The policy guarded by a burn-rate trigger instead, its pairs in a list of its own.</summary>
    private static Policy BurnRate() => EditTrigger(Webhook(), t => t with
    {
        Condition = new BurnRateCondition(99.9, TimeSpan.FromDays(30), "e[{{window}}]", "t[{{window}}]", [new(TimeSpan.FromHours(1), TimeSpan.FromMinutes(5), 14.4)], 0.5),
    });

    private static Policy EditBurnRate(Policy p, Func<BurnRateCondition, BurnRateCondition> edit) => EditTrigger(p, t => t with { Condition = edit((BurnRateCondition)t.Condition) });

    private static T Target<T>(Policy p)
        where T : Target => (T)p.Target;

    /// <summary>Every setting of the policy format, by its YAML path: the policy to start from, and the one edit.</summary>
    private static readonly Dictionary<string, (Func<Policy> Base, Func<Policy, Policy> Edit)> Edits = new()
    {
        ["name"] = (() => Webhook(), p => p with { Name = "cart" }),
        ["labels"] = (() => Webhook(), p => p with { Labels = new Dictionary<string, string> { ["team"] = "growth" } }),
        ["target.kind"] = (() => Webhook(), _ => Kubectl()),
        ["target.webhook.url"] = (() => Webhook(), p => p with { Target = Target<WebhookTarget>(p) with { Url = Template.Parse("https://deploy.example.com/undo") } }),
        ["target.webhook.secretFile"] = (() => Webhook(), p => p with { Target = Target<WebhookTarget>(p) with { SecretFile = "/etc/sentinel/other" } }),
        ["target.webhook.timeout"] = (() => Webhook(), p => p with { Target = Target<WebhookTarget>(p) with { Timeout = TimeSpan.FromSeconds(11) } }),
        ["target.webhook.idempotencyKey"] = (() => Webhook(), p => p with { Target = Target<WebhookTarget>(p) with { IdempotencyKey = null } }),
        ["target.kubectl.kind"] = (Kubectl, p => p with { Target = Target<KubectlTarget>(p) with { Workload = WorkloadKind.StatefulSet } }),
        ["target.kubectl.name"] = (Kubectl, p => p with { Target = Target<KubectlTarget>(p) with { Name = Template.Parse("cart") } }),
        ["target.kubectl.namespace"] = (Kubectl, p => p with { Target = Target<KubectlTarget>(p) with { Namespace = null } }),
        ["target.kubectl.context"] = (Kubectl, p => p with { Target = Target<KubectlTarget>(p) with { Context = "staging" } }),
        ["target.kubectl.kubeconfig"] = (Kubectl, p => p with { Target = Target<KubectlTarget>(p) with { Kubeconfig = null } }),
        ["target.kubectl.toRevision"] = (Kubectl, p => p with { Target = Target<KubectlTarget>(p) with { ToRevision = 2 } }),
        ["target.kubectl.timeout"] = (Kubectl, p => p with { Target = Target<KubectlTarget>(p) with { Timeout = TimeSpan.FromMinutes(3) } }),
        ["target.helm.release"] = (Helm, p => p with { Target = Target<HelmTarget>(p) with { Release = Template.Parse("cart") } }),
        ["target.helm.namespace"] = (Helm, p => p with { Target = Target<HelmTarget>(p) with { Namespace = Template.Parse("web") } }),
        ["target.helm.kubeContext"] = (Helm, p => p with { Target = Target<HelmTarget>(p) with { KubeContext = null } }),
        ["target.helm.timeout"] = (Helm, p => p with { Target = Target<HelmTarget>(p) with { Timeout = null } }),
        ["target.haproxy.runtimeApi"] = (() => HAProxy(), p => p with { Target = Target<HAProxyTarget>(p) with { RuntimeApi = new Uri("tcp://127.0.0.1:9998") } }),
        ["target.haproxy.backend"] = (() => HAProxy(), p => p with { Target = Target<HAProxyTarget>(p) with { Backend = "api" } }),
        ["target.haproxy.weights"] = (() => HAProxy(), p => p with { Target = Target<HAProxyTarget>(p) with { Weights = new Dictionary<string, int> { ["blue"] = 100, ["green"] = 10 } } }),
        ["target.haproxy.states"] = (() => HAProxy(), p => p with { Target = Target<HAProxyTarget>(p) with { States = new Dictionary<string, HAProxyServerState> { ["green"] = HAProxyServerState.Maint } } }),
        ["target.haproxy.timeout"] = (() => HAProxy(), p => p with { Target = Target<HAProxyTarget>(p) with { Timeout = TimeSpan.FromSeconds(6) } }),
        ["schedule"] = (() => Webhook(), p => p with { Schedule = new CronSchedule("0/15 * * * * ?") }),
        ["cooldown"] = (() => Webhook(), p => p with { Cooldown = TimeSpan.FromMinutes(30) }),
        ["dryRun"] = (() => Webhook(), p => p with { DryRun = true }),
        ["backend"] = (() => Webhook(), p => p with { Backend = "vm" }),
        ["confirm"] = (() => Webhook(), p => p with { Confirm = null }),
        ["confirm.approvers"] = (() => Webhook(), p => p with { Confirm = p.Confirm! with { Approvers = ["U024BE7LH"] } }),
        ["confirm.timeout"] = (() => Webhook(), p => p with { Confirm = p.Confirm! with { Timeout = TimeSpan.FromMinutes(5) } }),
        ["confirm.onTimeout"] = (() => Webhook(), p => p with { Confirm = p.Confirm! with { OnTimeout = OnTimeout.Rollback } }),
        ["notify"] = (() => Webhook(), p => p with { Notify = NotifySettings.Defaults }),
        ["notify.slackChannel"] = (() => Webhook(), p => p with { Notify = p.Notify with { SlackChannel = "#checkout" } }),
        ["notify.pagerdutyRoutingKeyFile"] = (() => Webhook(), p => p with { Notify = p.Notify with { PagerDutyRoutingKeyFile = null } }),
        ["watch.for"] = (() => Webhook(), p => p with { Watch = p.Watch with { For = TimeSpan.FromMinutes(30) } }),
        ["watch.outside"] = (() => Webhook(), p => p with { Watch = p.Watch with { Outside = OutsideAction.Notify } }),
        ["watch.detect.target"] = (() => Webhook(), p => p with { Watch = p.Watch with { Detect = p.Watch.Detect with { Target = false } } }),
        ["watch.detect.interval"] = (() => Webhook(), p => p with { Watch = p.Watch with { Detect = p.Watch.Detect with { Interval = TimeSpan.FromMinutes(1) } } }),
        ["watch.detect.query"] = (() => Webhook(), p => p with { Watch = p.Watch with { Detect = p.Watch.Detect with { Query = null } } }),
        ["gate.minPasses"] = (() => Webhook(), p => p with { Gate = p.Gate with { MinPasses = 5 } }),
        ["triggers"] = (() => Webhook(), p => p with { Triggers = [.. p.Triggers, p.Triggers[0] with { Name = "errors-2" }] }),
        ["triggers.name"] = (() => Webhook(), p => EditTrigger(p, t => t with { Name = "failures" })),
        ["triggers.errorRate.max"] = (() => Webhook(), p => EditTrigger(p, t => t with { Condition = (ErrorRateCondition)t.Condition with { Max = 0.1 } })),
        ["triggers.burnRate.objective"] = (BurnRate, p => EditBurnRate(p, c => c with { Objective = 99.5 })),
        ["triggers.burnRate.period"] = (BurnRate, p => EditBurnRate(p, c => c with { Period = TimeSpan.FromDays(28) })),
        ["triggers.burnRate.windows"] = (BurnRate, p => EditBurnRate(p, c => c with { Windows = [c.Windows[0] with { Factor = 10 }] })),
        ["triggers.burnRate.minTotal"] = (BurnRate, p => EditBurnRate(p, c => c with { MinTotal = 1 })),
        ["triggers.for"] = (() => Webhook(), p => EditTrigger(p, t => t with { For = TimeSpan.FromMinutes(3) })),
        ["triggers.action"] = (() => Webhook(), p => EditTrigger(p, t => t with { Action = TriggerAction.Rollback })),
        ["triggers.noData"] = (() => Webhook(), p => EditTrigger(p, t => t with { NoData = NoDataPolicy.Breach })),
        ["triggers.inconclusiveLimit"] = (() => Webhook(), p => EditTrigger(p, t => t with { InconclusiveLimit = 6 })),
    };

    public static TheoryData<string> Settings => [.. Edits.Keys];

    [Theory]
    [MemberData(nameof(Settings))]
    public void SameDefinition_OneSettingEdited_IsADifferentDefinition(string setting)
    {
        var (from, edit) = Edits[setting];

        Assert.False(PolicyComparer.SameDefinition(from(), edit(from())), $"editing only {setting} must reload the policy");
        Assert.False(PolicyComparer.SameDefinition(edit(from()), from()), $"editing only {setting} back must reload the policy");
    }

    [Fact]
    public void SameDefinition_ReReadCopyInOtherLinesOfTheFile_IsTheSameDefinition()
    {
        foreach (var make in new Func<SourceLocation, Policy>[] { at => Webhook(at), at => HAProxy(at), _ => Kubectl(), _ => Helm(), _ => BurnRate() })
        {
            // Built twice: new lists and dictionaries with equal content, and every source location moved.
            Assert.True(PolicyComparer.SameDefinition(make(Here), make(Elsewhere)));
        }
    }

    [Fact]
    public void Edits_CoverEveryPolicySetting()
    {
        // A new Policy property must get a row above (and be compared by SameDefinition), or a reload would miss it.
        var settings = typeof(Policy).GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.Name is not (nameof(Policy.Source) or nameof(Policy.BackendSource)))
            .Select(p => char.ToLowerInvariant(p.Name[0]) + p.Name[1..]);

        Assert.All(settings, s => Assert.Contains(Edits.Keys, k => k == s || k.StartsWith(s + ".", StringComparison.Ordinal)));
    }
}
