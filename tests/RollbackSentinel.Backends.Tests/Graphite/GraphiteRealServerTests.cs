using RollbackSentinel.Backends.Graphite;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Testing.Graphite;

namespace RollbackSentinel.Backends.Tests.Graphite;

/// <summary>
/// Two days ago, on minute <see cref="T0"/>: a checkout service's 5xx and request counts every 10 s for two minutes,
/// a series with a ten-minute gap, two tagged series and a value near the largest double.
/// </summary>
public sealed class GraphiteHistory : GraphiteFixture
{
    public static readonly DateTimeOffset T0 = AlignedToMinute(TimeProvider.System.GetUtcNow() - TimeSpan.FromDays(2));

    /// <summary><c>app.checkout.http.5xx</c> is k + 1 at T0 + k*10s, k = 0..11; <c>.total</c> is 100 at the same times.</summary>
    public static double ErrorsAt(int k) => k + 1;

    protected override Task SeedAsync(GraphiteServer server, CancellationToken cancellationToken)
    {
        var points = new List<GraphitePoint>();
        for (var k = 0; k < 12; k++)
        {
            var at = T0 + TimeSpan.FromSeconds(10 * k);
            points.Add(new("app.checkout.http.5xx", ErrorsAt(k), at));
            points.Add(new("app.checkout.http.total", 100, at));
        }

        // Three points, nothing for ten minutes, one more.
        points.Add(new("app.gap", 1, T0));
        points.Add(new("app.gap", 2, T0 + TimeSpan.FromSeconds(10)));
        points.Add(new("app.gap", 3, T0 + TimeSpan.FromSeconds(20)));
        points.Add(new("app.gap", 7, T0 + TimeSpan.FromMinutes(10)));

        points.Add(new("http.5xx;env=prod;region=eu", 5, T0));
        points.Add(new("http.5xx;env=prod;region=us", 7, T0));
        points.Add(new("app.huge", 1e300, T0));
        return server.WriteAsync(points, cancellationToken);
    }

    private static DateTimeOffset AlignedToMinute(DateTimeOffset t) => DateTimeOffset.FromUnixTimeSeconds(t.ToUnixTimeSeconds() / 60 * 60);
}

public sealed class GraphiteRealServerTests(GraphiteHistory graphite) : IClassFixture<GraphiteHistory>, IDisposable
{
    private static readonly DateTimeOffset T0 = GraphiteHistory.T0;
    private readonly HttpClient _http = new(GraphiteBackend.CreateHandler());

    private IMetricsSource Source => GraphiteBackend.Create(_http, new GraphiteOptions { BaseAddress = graphite.BaseAddress });

    public void Dispose() => _http.Dispose();

    [Fact]
    public async Task Query_BetweenPoints_IsTheNewestPointAtOrBefore()
    {
        var samples = await Source.QueryAsync("app.checkout.http.5xx", T0 + TimeSpan.FromSeconds(25), CancellationToken.None);

        var sample = Assert.Single(samples);
        Assert.Equal(LabelSet.Empty, sample.Labels);
        Assert.Equal(GraphiteHistory.ErrorsAt(2), sample.Value);
    }

    [Fact]
    public async Task Query_OnAPointsTimestamp_IsThatPoint()
    {
        var samples = await Source.QueryAsync("app.checkout.http.5xx", T0 + TimeSpan.FromSeconds(30), CancellationToken.None);

        Assert.Equal(GraphiteHistory.ErrorsAt(3), Assert.Single(samples).Value);
    }

    [Fact]
    public async Task Query_SumSeriesOfErrorsAndOfTotals_BothHaveNoLabelsSoTheyPairUp()
    {
        var at = T0 + TimeSpan.FromSeconds(60);
        var errors = await Source.QueryAsync("sumSeries(app.checkout.http.5xx)", at, CancellationToken.None);
        var total = await Source.QueryAsync("sumSeries(app.checkout.http.total)", at, CancellationToken.None);

        Assert.Equal(new Sample(LabelSet.Empty, GraphiteHistory.ErrorsAt(6)), Assert.Single(errors));
        Assert.Equal(new Sample(LabelSet.Empty, 100), Assert.Single(total));
    }

    [Fact]
    public async Task QueryRange_IsSampledAtStartPlusKStep()
    {
        var start = T0 + TimeSpan.FromSeconds(5);
        var series = await Source.QueryRangeAsync(
            "app.checkout.http.5xx", start, start + TimeSpan.FromSeconds(60), TimeSpan.FromSeconds(15), CancellationToken.None);

        var s = Assert.Single(series);
        Assert.Equal(
            [
                new Point(start, GraphiteHistory.ErrorsAt(0)), // T0+5: the point at T0
                new Point(start + TimeSpan.FromSeconds(15), GraphiteHistory.ErrorsAt(2)), // T0+20
                new Point(start + TimeSpan.FromSeconds(30), GraphiteHistory.ErrorsAt(3)), // T0+35: T0+30
                new Point(start + TimeSpan.FromSeconds(45), GraphiteHistory.ErrorsAt(5)), // T0+50
                new Point(start + TimeSpan.FromSeconds(60), GraphiteHistory.ErrorsAt(6)), // T0+65: T0+60
            ],
            s.Points);
    }

    [Fact]
    public async Task Query_InAGap_HasTheLastValueUntilTheLookbackThenNoValueNeverZero()
    {
        var lastPoint = T0 + TimeSpan.FromSeconds(20);

        var within = await Source.QueryAsync("app.gap", lastPoint + TimeSpan.FromMinutes(4), CancellationToken.None);
        var past = await Source.QueryAsync("app.gap", lastPoint + TimeSpan.FromMinutes(5), CancellationToken.None);
        var after = await Source.QueryAsync("app.gap", T0 + TimeSpan.FromMinutes(10), CancellationToken.None);

        Assert.Equal(3, Assert.Single(within).Value);
        Assert.Empty(past); // (t - 5m, t] no longer holds the point at exactly t - 5m
        Assert.Equal(7, Assert.Single(after).Value);
    }

    [Fact]
    public async Task QueryRange_OverAGap_LeavesTheInstantsPastTheLookbackOut()
    {
        var series = await Source.QueryRangeAsync("app.gap", T0, T0 + TimeSpan.FromMinutes(10), TimeSpan.FromMinutes(1), CancellationToken.None);

        var s = Assert.Single(series);

        // The point at T0+20s is the value until T0+5m20s; minutes 6 to 9 have none.
        Assert.Equal(
            [0, 1, 2, 3, 4, 5, 10],
            s.Points.Select(p => (int)(p.Timestamp - T0).TotalMinutes));
        Assert.Equal([1, 3, 3, 3, 3, 3, 7], s.Points.Select(p => p.Value));
    }

    [Fact]
    public async Task Query_TaggedSeries_AreLabelledWithTheirTags()
    {
        var samples = await Source.QueryAsync("seriesByTag('name=http.5xx')", T0 + TimeSpan.FromSeconds(1), CancellationToken.None);

        Assert.Equal(
            [
                new Sample(LabelSet.Of(("env", "prod"), ("region", "eu")), 5),
                new Sample(LabelSet.Of(("env", "prod"), ("region", "us")), 7),
            ],
            samples.OrderBy(s => s.Labels["region"]));
    }

    [Fact]
    public async Task Query_SumOfTaggedSeries_KeepsTheTagsTheyShareWithoutAggregatedBy()
    {
        var samples = await Source.QueryAsync("sumSeries(seriesByTag('name=http.5xx'))", T0 + TimeSpan.FromSeconds(1), CancellationToken.None);

        Assert.Equal(new Sample(LabelSet.Of(("env", "prod")), 12), Assert.Single(samples));
    }

    [Fact]
    public async Task Query_TwoUntaggedPaths_AreToldApartByTheirNames()
    {
        var samples = await Source.QueryAsync("app.checkout.http.*", T0 + TimeSpan.FromSeconds(1), CancellationToken.None);

        Assert.Equal(
            [
                new Sample(LabelSet.Of(("name", "app.checkout.http.5xx")), GraphiteHistory.ErrorsAt(0)),
                new Sample(LabelSet.Of(("name", "app.checkout.http.total")), 100),
            ],
            samples.OrderBy(s => s.Labels["name"]));
    }

    [Fact]
    public async Task Query_AnOverflowingValue_IsInfinityNotAnError()
    {
        // graphite-web writes infinity as 1e9999.
        var samples = await Source.QueryAsync("scale(app.huge, 1e10)", T0 + TimeSpan.FromSeconds(1), CancellationToken.None);

        Assert.Equal(double.PositiveInfinity, Assert.Single(samples).Value);
    }

    [Fact]
    public async Task Query_UnknownFunction_IsBadQueryWithGraphitesMessage()
    {
        var ex = await Assert.ThrowsAsync<MetricsQueryException>(
            () => Source.QueryAsync("sumSeriess(app.checkout.http.5xx)", T0, CancellationToken.None));

        Assert.Equal(MetricsErrorKind.BadQuery, ex.Kind);
        Assert.Equal(400, ex.StatusCode);
        Assert.Contains("Graphite rejected query \"sumSeriess(app.checkout.http.5xx)\"", ex.Message, StringComparison.Ordinal);
        Assert.Contains("unknown function: sumSeriess", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Query_InvalidTagExpression_IsBadQueryWithThePythonError()
    {
        // graphite-web answers this one with its 500 traceback page.
        var ex = await Assert.ThrowsAsync<MetricsQueryException>(
            () => Source.QueryAsync("seriesByTag('region')", T0, CancellationToken.None));

        Assert.Equal(MetricsErrorKind.BadQuery, ex.Kind);
        Assert.Equal(500, ex.StatusCode);
        Assert.Equal("ValueError", ex.ErrorType);
        Assert.Contains("ValueError: Invalid tagspec region", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CheckSyntax_ValidTargets_AreAccepted()
    {
        var checker = (IQueryChecker)Source;

        Assert.Null(await checker.CheckSyntaxAsync("divideSeries(sumSeries(app.checkout.http.5xx), sumSeries(app.checkout.http.total))", CancellationToken.None));
        Assert.Null(await checker.CheckSyntaxAsync("no.such.metric", CancellationToken.None));
    }

    [Theory]
    [InlineData("sumSeriess(app.checkout.http.5xx)", "unknown function: sumSeriess")]
    [InlineData("seriesByTag('region')", "ValueError: Invalid tagspec region")]
    [InlineData("sumSeries(app.checkout.http.5xx", "1 unclosed '('")]
    [InlineData("seriesByTag('name=http.5xx)", "unclosed quote")]
    public async Task CheckSyntax_InvalidTargets_SayWhatIsWrong(string target, string expected)
    {
        var problem = await ((IQueryChecker)Source).CheckSyntaxAsync(target, CancellationToken.None);

        Assert.NotNull(problem);
        Assert.Contains(expected, problem, StringComparison.Ordinal);
    }
}
