using RollbackSentinel.Core.Changes;
using RollbackSentinel.Core.Metrics;
using static RollbackSentinel.Core.Tests.Support.Build;

namespace RollbackSentinel.Core.Tests.Changes;

public sealed class QueryChangeDetectionTests
{
    private static IReadOnlyList<Change> Compare(Sample[]? previous, params Sample[] current) =>
        QueryChangeDetection.Compare("checkout-api", previous, current, T0);

    [Fact]
    public void Compare_TheFirstEvaluation_LearnsWithoutFindingChanges()
    {
        Assert.Empty(Compare(null, S(5, ("deployment", "cart")), S(1, ("deployment", "search"))));
    }

    [Fact]
    public void Compare_AValueThatChanged_IsAChangeOfItsLabelSet()
    {
        var changes = Compare([S(5, ("deployment", "cart")), S(1, ("deployment", "search"))], S(6, ("deployment", "cart")), S(1, ("deployment", "search")));

        var c = Assert.Single(changes);
        Assert.Equal(
            ("checkout-api", LabelSet.Of(("deployment", "cart")), T0, ChangeSource.Query, "5", "6", "{deployment=\"cart\"} changed from 5 to 6"),
            (c.Policy, c.Labels, c.At, c.Source, c.PreviousRevision, c.Revision, c.Description));
        Assert.Equal("5 -> 6", c.What);
    }

    [Fact]
    public void Compare_NothingChanged_FindsNothing()
    {
        Assert.Empty(Compare([S(5, ("deployment", "cart"))], S(5, ("deployment", "cart"))));
    }

    [Fact]
    public void Compare_ASeriesReplacedByAnotherVersion_IsAChangeOfTheLabelsTheyShare()
    {
        var changes = Compare(
            [S(3, ("deployment", "cart"), ("version", "v41")), S(2, ("deployment", "search"), ("version", "v7"))],
            S(3, ("deployment", "cart"), ("version", "v42")),
            S(2, ("deployment", "search"), ("version", "v7")));

        var c = Assert.Single(changes);
        Assert.Equal((LabelSet.Of(("deployment", "cart")), "v41", "v42"), (c.Labels, c.PreviousRevision, c.Revision));
        Assert.Equal("{deployment=\"cart\"}: v41 -> v42", c.Description);
    }

    [Fact]
    public void Compare_ANewVersionBesideTheOldOne_IsAChangeOfTheLabelsTheyShare()
    {
        // A rolling update: v42 appears while v41 still runs; v41 leaving later is no change.
        var during = Compare(
            [S(3, ("deployment", "cart"), ("version", "v41"))],
            S(3, ("deployment", "cart"), ("version", "v41")),
            S(1, ("deployment", "cart"), ("version", "v42")));
        var after = Compare(
            [S(3, ("deployment", "cart"), ("version", "v41")), S(1, ("deployment", "cart"), ("version", "v42"))],
            S(1, ("deployment", "cart"), ("version", "v42")));

        var c = Assert.Single(during);
        Assert.Equal((LabelSet.Of(("deployment", "cart")), "v41", "v42"), (c.Labels, c.PreviousRevision, c.Revision));
        Assert.Empty(after);
    }

    [Fact]
    public void Compare_SeveralLabelsDiffering_NameThemAll()
    {
        var c = Assert.Single(Compare(
            [S(1, ("app", "x"), ("deployment", "cart"), ("version", "v41"))],
            S(1, ("app", "y"), ("deployment", "cart"), ("version", "v42"))));

        Assert.Equal((LabelSet.Of(("deployment", "cart")), "app=x,version=v41", "app=y,version=v42"), (c.Labels, c.PreviousRevision, c.Revision));
    }

    [Fact]
    public void Compare_ASeriesWithNoPredecessor_IsLearnedNotAChange()
    {
        // A new deployment differs from every other in all its labels: it is not their next version, and a first
        // deploy has nothing to roll back to.
        Assert.Empty(Compare([S(5, ("deployment", "cart"))], S(5, ("deployment", "cart")), S(1, ("deployment", "search"))));
    }

    [Fact]
    public void Compare_ASeriesBackAfterAScrapeGap_IsNotPairedWithANeighbourAndIsNoChange()
    {
        // cart's build info was missing for one evaluation; web's is there with another version in the same namespace.
        // Pairing cart with web would record a change of the whole namespace and arm every rollback in it.
        Assert.Empty(Compare(
            [S(1, ("deployment", "web"), ("namespace", "shop"), ("version", "v7"))],
            S(1, ("deployment", "web"), ("namespace", "shop"), ("version", "v7")),
            S(1, ("deployment", "cart"), ("namespace", "shop"), ("version", "v42"))));
    }

    [Fact]
    public void Compare_ASeriesThatVanished_IsNoChange()
    {
        Assert.Empty(Compare([S(5, ("deployment", "cart")), S(1, ("deployment", "search"))], S(5, ("deployment", "cart"))));
    }

    [Fact]
    public void Compare_ALabelLessResultWhoseValueChanged_IsAChangeOfEverySeries()
    {
        var c = Assert.Single(Compare([S(5)], S(6)));

        Assert.Equal((LabelSet.Empty, "6"), (c.Labels, c.Revision));
    }

    [Theory]
    [InlineData(double.NaN, 6)]
    [InlineData(5, double.NaN)]
    [InlineData(double.NaN, double.NaN)]
    public void Compare_NaNOnEitherSide_IsNoEvidenceOfAChange(double before, double now)
    {
        Assert.Empty(Compare([S(before, ("deployment", "cart"))], S(now, ("deployment", "cart"))));
    }

    [Fact]
    public void Compare_FractionalValues_AreWrittenInFull()
    {
        var c = Assert.Single(Compare([S(0.1, ("deployment", "cart"))], S(1e21, ("deployment", "cart"))));

        Assert.Equal(("0.1", "1E+21"), (c.PreviousRevision, c.Revision));
    }

    [Fact]
    public void Compare_DuplicateLabelSets_CountOnce()
    {
        var changes = Compare([S(5, ("deployment", "cart")), S(9, ("deployment", "cart"))], S(6, ("deployment", "cart")), S(7, ("deployment", "cart")));

        Assert.Equal(("5", "6"), (Assert.Single(changes).PreviousRevision, changes[0].Revision));
    }
}
