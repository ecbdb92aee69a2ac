using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;

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

        var identity = TargetIdentity.For(target, LabelSet.Of(("deployment", "checkout")));

        Assert.StartsWith("webhook/https://deploy.example.com:443/rollback/…#", identity, StringComparison.Ordinal);
        Assert.DoesNotContain("token-abc", identity, StringComparison.Ordinal);
        Assert.NotEqual(identity, TargetIdentity.For(target, LabelSet.Of(("deployment", "cart"))));
    }

    [Fact]
    public void Template_RenderWithEncoder_EncodesLabelValuesOnly()
    {
        var template = Template.Parse("https://x.example/{{ labels.a }}?q=1");

        Assert.True(template.TryRender(LabelSet.Of(("a", "b/../c?d")), Uri.EscapeDataString, out var rendered, out _));

        Assert.Equal("https://x.example/b%2F..%2Fc%3Fd?q=1", rendered);
    }
}
