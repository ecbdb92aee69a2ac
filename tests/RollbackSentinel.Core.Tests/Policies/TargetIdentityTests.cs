using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Core.Tests.Support;

namespace RollbackSentinel.Core.Tests.Policies;

/// <summary>What a rollback acts on, as shown in records and used for cooldowns: distinct targets stay apart, secrets never show.</summary>
public sealed class TargetIdentityTests
{
    [Theory]
    [InlineData("https://deploy.example.com/rollback", "https://deploy.example.com:443/rollback")]
    [InlineData("http://bot:s3cret@127.0.0.1:8080/hook?key=abc#frag", "http://127.0.0.1:8080/hook")]
    [InlineData("https://hooks.example.com/", "https://hooks.example.com:443/")]
    [InlineData("https://hooks.example.com/services/", "https://hooks.example.com:443/services/")]
    [InlineData("kubectl/checkout", "kubectl/checkout")]
    public void Redact_KeepsSchemeHostPortAndFirstSegment(string text, string expected) =>
        Assert.Equal(expected, TargetIdentity.Redact(text));

    [Fact]
    public void Redact_PathBeyondTheFirstSegment_IsHashedNotShown()
    {
        var a = TargetIdentity.Redact("https://hooks.slack.com/services/T000/B000/XXXXSECRET1");
        var b = TargetIdentity.Redact("https://hooks.slack.com/services/T000/B000/XXXXSECRET2");

        Assert.StartsWith("https://hooks.slack.com:443/services/…#", a, StringComparison.Ordinal);
        Assert.DoesNotContain("SECRET", a, StringComparison.Ordinal);
        Assert.NotEqual(a, b); // two hooks stay two targets (two cooldowns)
        Assert.Equal(a, TargetIdentity.Redact("https://hooks.slack.com/services/T000/B000/XXXXSECRET1?x=1"));
    }

    [Fact]
    public void For_TemplatedWebhook_RendersThenRedacts()
    {
        var target = new WebhookTarget(Template.Parse("https://deploy.example.com/rollback/{{ labels.deployment }}/token-abc"));

        var identity = TargetIdentity.For(PolicyWith(target), LabelSet.Of(("deployment", "checkout")));

        Assert.StartsWith("webhook/shop/https://deploy.example.com:443/rollback/…#", identity, StringComparison.Ordinal);
        Assert.DoesNotContain("token-abc", identity, StringComparison.Ordinal);
        Assert.NotEqual(identity, TargetIdentity.For(PolicyWith(target), LabelSet.Of(("deployment", "cart"))));
    }

    [Fact]
    public void For_WebhookWithoutTemplates_IsThePolicysOwn()
    {
        // Two policies posting to the same receiver ask for different rollbacks: the body names the policy.
        var target = new WebhookTarget(Template.Parse("https://deploy.example.com/rollback?token=abc"));
        var labels = LabelSet.Of(("app", "x"));

        var shop = TargetIdentity.For(PolicyWith(target, "shop"), labels);
        var cart = TargetIdentity.For(PolicyWith(target, "cart"), labels);

        Assert.Equal("webhook/shop/https://deploy.example.com:443/rollback", shop);
        Assert.Equal("webhook/cart/https://deploy.example.com:443/rollback", cart);
        Assert.Equal(shop, TargetIdentity.For(PolicyWith(target, "shop"), LabelSet.Of(("app", "y"))));
    }

    [Fact]
    public void For_WebhookWithIdempotencyKey_IncludesTheRenderedKey()
    {
        var target = new WebhookTarget(Template.Parse("https://deploy.example.com/rollback")) { IdempotencyKey = Template.Parse("{{ labels.app }}-v2") };

        Assert.Equal("webhook/shop/https://deploy.example.com:443/rollback/key=checkout-v2", TargetIdentity.For(PolicyWith(target), LabelSet.Of(("app", "checkout"))));
    }

    [Fact]
    public void For_SameDeploymentInTwoPolicies_IsTheSameTarget()
    {
        var byLabel = new KubectlTarget(WorkloadKind.Deployment, Template.Parse("{{ labels.deployment }}")) { Namespace = Template.Parse("shop") };
        var byName = new KubectlTarget(WorkloadKind.Deployment, Template.Parse("checkout")) { Namespace = Template.Parse("{{ labels.namespace }}") };
        var labels = LabelSet.Of(("deployment", "checkout"), ("namespace", "shop"));

        Assert.Equal("kubectl/-/shop/deployment/checkout", TargetIdentity.For(PolicyWith(byLabel, "errors"), labels));
        Assert.Equal("kubectl/-/shop/deployment/checkout", TargetIdentity.For(PolicyWith(byName, "latency"), labels));
        Assert.Equal("kubectl/prod/shop/statefulset/checkout", TargetIdentity.For(PolicyWith(byLabel with { Workload = WorkloadKind.StatefulSet, Context = "prod" }), labels));
    }

    [Fact]
    public void For_HelmAndHAProxy_AreNamedByWhatTheyChange()
    {
        var helm = new HelmTarget(Template.Parse("{{ labels.release }}")) { Namespace = Template.Parse("shop"), KubeContext = "prod" };
        var blue = new HAProxyTarget(new Uri("tcp://127.0.0.1:9999"), "app", new Dictionary<string, int> { ["blue"] = 0 });
        var labels = LabelSet.Of(("release", "checkout"));

        Assert.Equal("helm/prod/shop/checkout", TargetIdentity.For(PolicyWith(helm), labels));
        Assert.Equal("haproxy/tcp://127.0.0.1:9999/app", TargetIdentity.For(PolicyWith(blue, "a"), labels));
        Assert.Equal(TargetIdentity.For(PolicyWith(blue, "a"), labels), TargetIdentity.For(PolicyWith(blue, "b"), labels));
        Assert.NotEqual(TargetIdentity.For(PolicyWith(blue), labels), TargetIdentity.For(PolicyWith(blue with { Backend = "api" }), labels));
    }

    [Fact]
    public void For_SeriesWithoutTheLabelTheTargetNeeds_IsItsOwnTarget()
    {
        var target = new KubectlTarget(WorkloadKind.Deployment, Template.Parse("{{ labels.deployment }}"));

        Assert.Equal("kubectl/-/-/deployment/?{pod=\"p1\"}", TargetIdentity.For(PolicyWith(target), LabelSet.Of(("pod", "p1"))));
    }

    [Fact]
    public void Template_RenderWithEncoder_EncodesLabelValuesOnly()
    {
        var template = Template.Parse("https://x.example/{{ labels.a }}?q=1");

        Assert.True(template.TryRender(LabelSet.Of(("a", "b/../c?d")), Uri.EscapeDataString, out var rendered, out _));

        Assert.Equal("https://x.example/b%2F..%2Fc%3Fd?q=1", rendered);
    }

    private static Policy PolicyWith(Target target, string name = "shop") => Build.Policy(Build.ErrorRate()) with { Name = name, Target = target };
}
