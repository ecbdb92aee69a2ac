using RollbackSentinel.Core.Metrics;

namespace RollbackSentinel.Core.Tests.Metrics;

public sealed class LabelSetTests
{
    [Fact]
    public void From_SortsByNameDropsMetricNameAndEqualsRegardlessOfOrder()
    {
        var a = LabelSet.Of(("track", "canary"), ("__name__", "http_requests_total"), ("app", "checkout"));
        var b = LabelSet.Of(("app", "checkout"), ("track", "canary"));

        Assert.Equal(b, a);
        Assert.Equal(b.GetHashCode(), a.GetHashCode());
        Assert.Equal("{app=\"checkout\", track=\"canary\"}", a.ToString());
        Assert.Equal(["app", "track"], a.Keys);
    }

    [Fact]
    public void ToString_EscapesLikePrometheus()
    {
        Assert.Equal("{path=\"a\\\"b\\\\c\\nd\"}", LabelSet.Of(("path", "a\"b\\c\nd")).ToString());
        Assert.Equal("{}", LabelSet.Empty.ToString());
    }

    [Fact]
    public void From_DuplicateName_IsRejected()
    {
        var e = Assert.Throws<ArgumentException>(() => LabelSet.Of(("a", "1"), ("a", "2")));

        Assert.Contains("Label 'a' appears twice", e.Message);
    }

    [Fact]
    public void Indexer_UnknownLabel_ThrowsAndTryGetValueSaysSo()
    {
        var labels = LabelSet.Of(("a", "1"));

        Assert.Equal("1", labels["a"]);
        Assert.False(labels.TryGetValue("b", out _));
        Assert.Throws<KeyNotFoundException>(() => labels["b"]);
    }
}
