using RollbackSentinel.Core.Changes;
using RollbackSentinel.Core.Metrics;
using static RollbackSentinel.Core.Tests.Support.Build;
using static RollbackSentinel.Core.Tests.Support.Changes;

namespace RollbackSentinel.Core.Tests.Changes;

public sealed class ChangeHistoryTests
{
    private static readonly LabelSet Cart = LabelSet.Of(("deployment", "cart"));
    private static readonly LabelSet Search = LabelSet.Of(("deployment", "search"));

    [Fact]
    public void All_IsOldestFirst_AndAtTheSameInstantInStoredOrder()
    {
        var history = History(Deploy(T0.AddMinutes(5), "c", id: 3), Deploy(T0, "b", id: 2), Deploy(T0, "a", id: 1));

        Assert.Equal(["a", "b", "c"], history.All.Select(c => c.Revision));
    }

    [Fact]
    public void LatestFor_TheLatestApplyingChangeAtOrBeforeTheTime()
    {
        var all = Deploy(T0, "v1", id: 1);
        var cart = Deploy(T0.AddMinutes(10), "v2", labels: Cart, id: 2);
        var later = Deploy(T0.AddMinutes(20), "v3", labels: Cart, id: 3);
        var history = History(all, cart, later);

        Assert.Equal(cart, history.LatestFor(Cart, T0.AddMinutes(10)));
        Assert.Equal(cart, history.LatestFor(LabelSet.Of(("deployment", "cart"), ("code", "500")), T0.AddMinutes(19)));
        Assert.Equal(all, history.LatestFor(Search, T0.AddHours(1)));
        Assert.Null(history.LatestFor(Search, T0.AddSeconds(-1)));
        Assert.Null(ChangeHistory.Empty.LatestFor(Cart, T0));
    }

    [Fact]
    public void LatestFor_CountsTheSentinelsOwnRollback_BaselineChangeForDoesNot()
    {
        var deploy = Deploy(T0);
        var rollback = SentinelRollback(T0.AddMinutes(5));
        var history = History(deploy, rollback);

        Assert.Equal(rollback, history.LatestFor(Cart, T0.AddMinutes(6)));
        Assert.Equal(deploy, history.BaselineChangeFor(Cart, T0.AddMinutes(6)));
    }

    [Fact]
    public void BaselineCandidates_TheLatestOfEachLabelSetAtThatTime()
    {
        var all = Deploy(T0, "v1", id: 1);
        var cart1 = Deploy(T0.AddMinutes(10), "c1", labels: Cart, id: 2);
        var cart2 = Deploy(T0.AddMinutes(20), "c2", labels: Cart, id: 3);
        var search = Deploy(T0.AddMinutes(30), "s1", labels: Search, id: 4);
        var history = History(all, cart1, cart2, search, SentinelRollback(T0.AddMinutes(25), Cart, id: 5));

        Assert.Equal([all, cart2], history.BaselineCandidates(T0.AddMinutes(25)));
        Assert.Equal([all, cart1], history.BaselineCandidates(T0.AddMinutes(15)));
        Assert.Equal([all, cart2, search], history.BaselineCandidates(T0.AddHours(1)));
    }

    [Fact]
    public void With_AddsInTimeOrderAndLeavesTheOriginalAlone()
    {
        var history = History(Deploy(T0.AddMinutes(10), "b", id: 2));

        var more = history.With(Deploy(T0, "a", id: 1));

        Assert.Equal(["a", "b"], more.All.Select(c => c.Revision));
        Assert.Equal(1, history.Count);
    }
}
