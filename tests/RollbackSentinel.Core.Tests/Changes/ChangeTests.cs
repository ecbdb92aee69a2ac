using RollbackSentinel.Core.Changes;
using RollbackSentinel.Core.Metrics;
using static RollbackSentinel.Core.Tests.Support.Build;
using static RollbackSentinel.Core.Tests.Support.Changes;

namespace RollbackSentinel.Core.Tests.Changes;

public sealed class ChangeTests
{
    [Fact]
    public void Describe_AnApiDeploy_SaysRevisionAgeAndWho()
    {
        var change = Deploy(T0, "v42", "v41", by: "ci");

        Assert.Equal("since v42, deployed 4m ago by ci", change.Describe(T0.AddMinutes(4).AddSeconds(59)));
    }

    [Fact]
    public void Describe_TheSentinelsOwnRollback_SaysRolledBack()
    {
        Assert.Equal("since v41, rolled back 3h ago by rollback-sentinel", SentinelRollback(T0).Describe(T0.AddHours(3).AddMinutes(10)));
    }

    [Fact]
    public void Describe_WithoutRevisionOrActor_NamesTheDescription()
    {
        var change = new Change { Policy = "p", At = T0, Source = ChangeSource.Api, Description = "cutover step 2" };

        Assert.Equal("since cutover step 2, deployed 10s ago", change.Describe(T0.AddSeconds(10)));
    }

    [Fact]
    public void Describe_AChangeInTheFuture_SaysWhenInsteadOfAgo()
    {
        Assert.Equal("since v42, deployed at 2026-11-20T10:05:00Z by ci", Deploy(T0.AddMinutes(5)).Describe(T0));
    }

    [Theory]
    [InlineData("v41", "v42", null, "v41 -> v42")]
    [InlineData(null, "v42", null, "v42")]
    [InlineData(null, null, "flag checkout.v2 on", "flag checkout.v2 on")]
    [InlineData(null, null, null, "an unnamed change")]
    public void What_NamesFromAndToWhereKnown(string? from, string? to, string? description, string expected)
    {
        var change = new Change { Policy = "p", At = T0, Source = ChangeSource.Api, PreviousRevision = from, Revision = to, Description = description };

        Assert.Equal(expected, change.What);
    }

    [Theory]
    [InlineData(0, "0s ago")]
    [InlineData(59, "59s ago")]
    [InlineData(60 * 59 + 59, "59m ago")]
    [InlineData(3600 * 47 + 3599, "47h ago")]
    [InlineData(86400 * 3 + 7200, "3d ago")]
    public void Ago_RoundsDownToItsLargestUnit(int seconds, string expected)
    {
        Assert.Equal(expected, Change.Ago(TimeSpan.FromSeconds(seconds)));
    }

    [Fact]
    public void AppliesTo_ASeriesNoneOfWhoseLabelsContradictTheChanges()
    {
        var cart = Deploy(T0, labels: LabelSet.Of(("deployment", "cart")));

        Assert.True(cart.AppliesTo(LabelSet.Of(("deployment", "cart"), ("code", "500"))));
        Assert.False(cart.AppliesTo(LabelSet.Of(("deployment", "search"))));
        Assert.True(cart.AppliesTo(LabelSet.Empty)); // an aggregate over every deployment, cart's included
        Assert.True(cart.AppliesTo(LabelSet.Of(("code", "500")))); // a series without the label: cart is in it
        Assert.True(Deploy(T0).AppliesTo(LabelSet.Of(("deployment", "search"))));
    }

    [Fact]
    public void IsSentinelRollback_OnlyForATargetChangeByTheSentinel()
    {
        Assert.True(SentinelRollback(T0).IsSentinelRollback);
        Assert.False((SentinelRollback(T0) with { Source = ChangeSource.Api }).IsSentinelRollback);
        Assert.False(Deploy(T0, by: Change.SentinelActor).IsSentinelRollback);
        Assert.False((SentinelRollback(T0) with { By = "kubectl" }).IsSentinelRollback);
    }
}
