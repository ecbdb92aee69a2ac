using RollbackSentinel.Core.Secrets;

namespace RollbackSentinel.Core.Tests.Secrets;

public sealed class SecretRegistryTests
{
    [Fact]
    public void Redact_RegisteredSecret_IsReplacedWhereverItAppears()
    {
        var registry = new SecretRegistry();
        registry.Register("  s3cr3t-routing-key\n");

        Assert.Equal("key [REDACTED] and again [REDACTED]", registry.Redact("key s3cr3t-routing-key and again s3cr3t-routing-key"));
    }

    [Fact]
    public void Redact_SecretEchoedJsonEscapedOrUrlEncoded_IsReplacedToo()
    {
        var registry = new SecretRegistry();
        registry.Register("a+b/c\"d");

        Assert.Equal("{\"error\":\"bad key [REDACTED]\"}", registry.Redact("{\"error\":\"bad key a\\u002Bb/c\\u0022d\"}"));
        Assert.Equal("token=[REDACTED]", registry.Redact("token=a%2Bb%2Fc%22d"));
    }

    [Fact]
    public void Redact_SecretContainingAnother_IsReplacedWhole()
    {
        var registry = new SecretRegistry();
        registry.Register("abcd");
        registry.Register("abcdefgh");

        Assert.Equal("[REDACTED] [REDACTED]", registry.Redact("abcdefgh abcd"));
    }

    [Fact]
    public void Register_TooShortOrBlank_IsIgnored()
    {
        var registry = new SecretRegistry();
        registry.Register("abc");
        registry.Register("   ");
        registry.Register(null);

        Assert.Equal(0, registry.Count);
        Assert.Equal("abc", registry.Redact("abc"));
    }
}
