using RollbackSentinel.Core.Changes;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;
using static RollbackSentinel.Core.Tests.Support.Build;
using static RollbackSentinel.Core.Tests.Support.Changes;

namespace RollbackSentinel.Core.Tests.Changes;

public sealed class WatchWindowTests
{
    private static readonly Policy Checkout = Policy(ErrorRate()) with { Name = "checkout" };
    private static readonly LabelSet Cart = LabelSet.Of(("deployment", "cart"));

    [Fact]
    public void Judge_ABreachThreeDaysAfterTheLastChange_IsDisarmedSayingWhy()
    {
        var change = Deploy(T0, "v42", "v41", policy: "checkout");

        var arming = WatchWindow.Judge(Checkout, History(change), LabelSet.Empty, T0.AddDays(3), T0.AddDays(3).AddMinutes(2));

        Assert.False(arming.Armed);
        Assert.Equal(change, arming.Blamed);
        Assert.Equal("no change of checkout within 1h (last: v41 -> v42, 3d ago): a rollback would not undo the cause", arming.Reason);
    }

    [Theory]
    [InlineData(-15, true)] // one step inside
    [InlineData(0, true)] // exactly 'for' after the change: inclusive
    [InlineData(15, false)] // one step outside
    public void Judge_AtTheWindowsEdge_ArmedUpToAndIncludingFor(int secondsFromEdge, bool armed)
    {
        var change = Deploy(T0);
        var began = T0 + WatchSettings.DefaultFor + TimeSpan.FromSeconds(secondsFromEdge);

        var arming = WatchWindow.Judge(Checkout, History(change), LabelSet.Empty, began, began);

        Assert.Equal((armed, change), (arming.Armed, arming.Blamed));
        Assert.Equal(armed, arming.Reason is null);
    }

    [Theory]
    [InlineData(ChangeSource.Query, 9, false)] // the detect query sees the undo's new generation: the rollback's echo
    [InlineData(ChangeSource.Target, 1, false)] // a target read of the undone revision
    [InlineData(ChangeSource.Api, 1, true)] // a person marks a roll-forward: a real change
    [InlineData(ChangeSource.Query, 11, true)] // past the echo interval: someone deployed again
    public void Judge_AChangeFoundSoonAfterTheSentinelsRollback_IsTheRollbackAndNeverArms(ChangeSource source, int minutesAfter, bool armed)
    {
        var deploy = Deploy(T0, labels: Cart, id: 1);
        var rollback = SentinelRollback(T0.AddMinutes(10), Cart, id: 2);
        var found = new Change { Id = 3, Policy = "checkout-api", Labels = Cart, At = rollback.At.AddMinutes(minutesAfter), Source = source, Revision = "6", PreviousRevision = "5" };
        var history = History(deploy, rollback, found);
        var began = found.At.AddMinutes(1);

        var arming = WatchWindow.Judge(Checkout, history, Cart, began, began);

        Assert.Equal(armed, arming.Armed);
        Assert.Equal(armed ? found : null, arming.Blamed);
        Assert.Equal(armed ? found : null, WatchWindow.Blame(history, Cart, began));
        Assert.Equal(!armed, history.IsSentinels(found));

        // Nor does the echo start a before-deploy baseline: that would measure the bad version as "before".
        Assert.Equal(armed ? found : deploy, history.BaselineChangeFor(Cart, began));
    }

    [Fact]
    public void Judge_NoChangeKnown_IsDisarmedAndBlamesNothing()
    {
        var arming = WatchWindow.Judge(Checkout, ChangeHistory.Empty, Cart, T0, T0);

        Assert.Equal((false, (Change?)null), (arming.Armed, arming.Blamed));
        Assert.Equal("no change of checkout{deployment=\"cart\"} is known: a rollback would not undo the cause", arming.Reason);
    }

    [Fact]
    public void Judge_AChangeAfterTheBreachBegan_IsNotItsCause()
    {
        // The breach began at T0+1h+1m; v43 came during its 'for': the earlier v42 is what the breach follows.
        var v42 = Deploy(T0, "v42", "v41", id: 1);
        var v43 = Deploy(T0.AddHours(1).AddMinutes(2), "v43", "v42", id: 2);

        var arming = WatchWindow.Judge(Checkout, History(v42, v43), LabelSet.Empty, T0.AddHours(1).AddMinutes(1), T0.AddHours(1).AddMinutes(5));

        Assert.Equal((false, v42), (arming.Armed, arming.Blamed));
        Assert.Contains("(last: v41 -> v42, 1h ago)", arming.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Judge_AfterTheSentinelsOwnRollback_IsDisarmedAndBlamesNothing()
    {
        var history = History(Deploy(T0), SentinelRollback(T0.AddMinutes(5)));

        var arming = WatchWindow.Judge(Checkout, history, LabelSet.Empty, T0.AddMinutes(10), T0.AddMinutes(10));

        Assert.Equal((false, (Change?)null), (arming.Armed, arming.Blamed));
        Assert.Equal("the last change of checkout was the sentinel's own rollback (v42 -> v41, 5m ago): a rollback would not undo the cause", arming.Reason);
    }

    [Fact]
    public void Judge_EachLabelSetByItsOwnChange()
    {
        var history = History(Deploy(T0, "c1", labels: Cart, id: 1), Deploy(T0.AddHours(3), "s1", labels: LabelSet.Of(("deployment", "search")), id: 2));
        var at = T0.AddHours(3).AddMinutes(5);

        Assert.False(WatchWindow.Judge(Checkout, history, Cart, at, at).Armed);
        Assert.True(WatchWindow.Judge(Checkout, history, LabelSet.Of(("deployment", "search")), at, at).Armed);
        Assert.False(WatchWindow.Judge(Checkout, history, LabelSet.Of(("deployment", "other")), at, at).Armed);
    }

    [Fact]
    public void Blame_TheLatestChangeBeforeTheBreach_NeverTheSentinelsRollback()
    {
        var deploy = Deploy(T0);
        var history = History(deploy, SentinelRollback(T0.AddMinutes(5)));

        Assert.Equal(deploy, WatchWindow.Blame(history, Cart, T0.AddMinutes(4)));
        Assert.Null(WatchWindow.Blame(history, Cart, T0.AddMinutes(5)));
        Assert.Null(WatchWindow.Blame(history, Cart, T0.AddSeconds(-1)));
    }
}
