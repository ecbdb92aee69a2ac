using RollbackSentinel.Backends.InfluxDb;
using RollbackSentinel.Core.Metrics;

namespace RollbackSentinel.Backends.Tests.InfluxDb;

/// <summary>The InfluxDB adapter against a real influxd 1.x (<see cref="InfluxDbHistory"/>, started once for the class).</summary>
public sealed class InfluxDbSourceTests(InfluxDbHistory influx) : IClassFixture<InfluxDbHistory>, IDisposable
{
    private const string ErrorsByPod = """SELECT "errors" FROM "http" WHERE "app" = 'checkout' AND $timeFilter GROUP BY "pod" """;

    private readonly HttpClient _http = new(InfluxDbBackend.CreateHandler());

    private static CancellationToken Ct => CancellationToken.None;

    public void Dispose() => _http.Dispose();

    [Fact]
    public async Task Query_GroupByTag_IsOneSamplePerTagSetWithTheNewestPointInTheLookback()
    {
        var samples = await Source().QueryAsync(ErrorsByPod, InfluxDbHistory.At(20), Ct);

        Assert.Equal(
            [(LabelSet.Of(("pod", "a")), 1d), (LabelSet.Of(("pod", "b")), 101d)],
            samples.Select(s => (s.Labels, s.Value)).OrderBy(s => s.Labels.ToString()));
    }

    [Fact]
    public async Task Query_AtThePointsOwnSecond_IncludesIt()
    {
        var samples = await Source().QueryAsync("""SELECT "errors" FROM "http" WHERE "pod" = 'a' AND $timeFilter""", InfluxDbHistory.At(30), Ct);

        Assert.Equal(2d, Assert.Single(samples).Value);
    }

    [Fact]
    public async Task Query_PastTheLookbackAfterTheLastPoint_HasNoValueForThatSeries()
    {
        // pod b's last point before its gap is at T0 + 30; the lookback is 5 minutes.
        var source = Source();

        var inside = await source.QueryAsync(ErrorsByPod, InfluxDbHistory.At(30 + 299), Ct);
        var past = await source.QueryAsync(ErrorsByPod, InfluxDbHistory.At(30 + 300), Ct);

        Assert.Equal(102d, Assert.Single(inside, s => s.Labels["pod"] == "b").Value);
        Assert.DoesNotContain(past, s => s.Labels["pod"] == "b");
        Assert.Contains(past, s => s.Labels["pod"] == "a");
    }

    [Fact]
    public async Task Query_EmptyGroupByTimeBuckets_AreGapsNeverZeros()
    {
        // InfluxDB answers null for each empty 15 s bucket of pod b's gap.
        const string query = """SELECT sum("errors") FROM "http" WHERE "pod" = 'b' AND $timeFilter GROUP BY time(15s)""";

        var samples = await Source().QueryAsync(query, InfluxDbHistory.At(30 + 360), Ct);
        var range = await Source().QueryRangeAsync(query, InfluxDbHistory.At(0), InfluxDbHistory.At(600), TimeSpan.FromSeconds(60), Ct);

        Assert.Empty(samples);
        var points = Assert.Single(range).Points;
        Assert.DoesNotContain(points, p => p.Value == 0);
        Assert.Equal(InfluxDbHistory.At(300), points[^1].Timestamp);
    }

    [Fact]
    public async Task QueryRange_ResamplesAtExactlyStartPlusKSteps()
    {
        var range = await Source().QueryRangeAsync(
            """SELECT "errors" FROM "http" WHERE "pod" = 'a' AND $timeFilter""", InfluxDbHistory.At(5), InfluxDbHistory.At(65), TimeSpan.FromSeconds(20), Ct);

        var series = Assert.Single(range);
        Assert.True(series.Labels.IsEmpty);
        Assert.Equal(
            [(InfluxDbHistory.At(5), 0d), (InfluxDbHistory.At(25), 1d), (InfluxDbHistory.At(45), 0d), (InfluxDbHistory.At(65), 4d)],
            series.Points.Select(p => (p.Timestamp, p.Value)));
    }

    [Fact]
    public async Task QueryRange_LongerThanOneWindow_IsStitchedWithoutMissingOrRepeatedInstants()
    {
        var step = TimeSpan.FromHours(1);

        var range = await Source().QueryRangeAsync(
            """SELECT "value" FROM "daily" WHERE $timeFilter""", InfluxDbHistory.At(0), InfluxDbHistory.At(48 * 3600), step, Ct);

        var points = Assert.Single(range).Points;
        Assert.True(InfluxDbSource.RangeWindow < TimeSpan.FromHours(48));
        Assert.Equal(Enumerable.Range(0, 49).Select(h => (InfluxDbHistory.At(h * 3600L), (double)h)), points.Select(p => (p.Timestamp, p.Value)));
    }

    [Fact]
    public async Task Query_SameTagsInTwoMeasurements_AreToldApartByTheMeasurementLabel()
    {
        var samples = await Source().QueryAsync(
            """SELECT "errors" FROM "http", "grpc" WHERE "app" = 'checkout' AND $timeFilter GROUP BY "pod" """, InfluxDbHistory.At(1), Ct);

        Assert.Equal(
            ["{_measurement=\"grpc\", pod=\"a\"}", "{_measurement=\"http\", pod=\"a\"}", "{pod=\"b\"}"],
            samples.Select(s => s.Labels.ToString()).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Query_DivisionByZero_InfluxDbAnswersZero()
    {
        // Why docs/backends.md says to give errorRate the errors and the totals as two queries: InfluxQL
        // answers 0 for 0/0, which reads as "no errors" instead of "no traffic".
        var samples = await Source().QueryAsync(
            """SELECT "errors" / "total" FROM "http" WHERE "pod" = 'a' AND $timeFilter""", InfluxDbHistory.At(45), Ct);

        Assert.Equal(0d, Assert.Single(samples).Value);
    }

    [Fact]
    public async Task Query_TwoFields_IsBadQuerySayingSelectOneField()
    {
        var ex = await Assert.ThrowsAsync<MetricsQueryException>(() => Source().QueryAsync(
            """SELECT "errors", "total" FROM "http" WHERE $timeFilter""", InfluxDbHistory.At(20), Ct));

        Assert.Equal(MetricsErrorKind.BadQuery, ex.Kind);
        Assert.Contains("2 value columns (errors, total)", ex.Message, StringComparison.Ordinal);
        Assert.Contains("select one field", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Query_StringField_IsBadQuerySayingSelectANumericField()
    {
        var ex = await Assert.ThrowsAsync<MetricsQueryException>(() => Source().QueryAsync(
            """SELECT "version" FROM "deploy" WHERE $timeFilter""", InfluxDbHistory.At(20), Ct));

        Assert.Equal(MetricsErrorKind.BadQuery, ex.Kind);
        Assert.Contains("strings in column 'version'; select a numeric field", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Query_WithoutTimeFilter_IsBadQuerySayingWhereToPutIt()
    {
        var ex = await Assert.ThrowsAsync<MetricsQueryException>(() => Source().QueryAsync(
            """SELECT "errors" FROM "http" WHERE "pod" = 'a'""", InfluxDbHistory.At(20), Ct));

        Assert.Equal(MetricsErrorKind.BadQuery, ex.Kind);
        Assert.Contains("has no $timeFilter: put it in the WHERE clause", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Query_InfluxQlParseError_IsBadQueryWithInfluxDbsMessage()
    {
        var ex = await Assert.ThrowsAsync<MetricsQueryException>(() => Source().QueryAsync(
            """SELECT mean("errors" FROM "http" WHERE $timeFilter""", InfluxDbHistory.At(20), Ct));

        Assert.Equal(MetricsErrorKind.BadQuery, ex.Kind);
        Assert.Equal(400, ex.StatusCode);
        Assert.StartsWith("InfluxDB rejected query \"SELECT mean(\"errors\" FROM", ex.Message, StringComparison.Ordinal);
        Assert.Contains("error parsing query: found FROM, expected )", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Query_StatementError_IsBadQueryWithInfluxDbsMessage()
    {
        var ex = await Assert.ThrowsAsync<MetricsQueryException>(() => Source().QueryAsync(
            """SELECT "errors" FROM "http" WHERE $timeFilter GROUP BY time(15s)""", InfluxDbHistory.At(20), Ct));

        Assert.Equal(MetricsErrorKind.BadQuery, ex.Kind);
        Assert.Equal(200, ex.StatusCode);
        Assert.Contains("GROUP BY requires at least one aggregate function", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("nosuch", null, "database not found: nosuch; check the database (nosuch)")]
    [InlineData(InfluxDbHistory.Database, "nosuch", "retention policy not found: nosuch; check the database (app) and retention policy (nosuch)")]
    public async Task Query_UnknownDatabaseOrRetentionPolicy_IsBadQueryNamingTheSetting(string database, string? retentionPolicy, string expected)
    {
        var source = Source(o => o with { Database = database, RetentionPolicy = retentionPolicy });

        var ex = await Assert.ThrowsAsync<MetricsQueryException>(() => source.QueryAsync(ErrorsByPod, InfluxDbHistory.At(20), Ct));

        Assert.Equal(MetricsErrorKind.BadQuery, ex.Kind);
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
        Assert.Contains(influx.BaseAddress.Authority, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Query_SelectInto_IsRefusedBeforeAnythingIsWritten()
    {
        var ex = await Assert.ThrowsAsync<MetricsQueryException>(() => Source().QueryAsync(
            """SELECT "errors" INTO "copy" FROM "http" WHERE $timeFilter""", InfluxDbHistory.At(20), Ct));

        Assert.Equal(MetricsErrorKind.BadQuery, ex.Kind);
        Assert.Contains("holds INTO (at character 17): SELECT ... INTO writes points", ex.Message, StringComparison.Ordinal);
        var copies = await influx.Server.QueryAsync("SHOW MEASUREMENTS ON \"app\" WITH MEASUREMENT = \"copy\"", Ct);
        Assert.DoesNotContain("copy", copies, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Query_AnswerLongerThanTheCap_FailsNamingTheSettingToRaise()
    {
        var source = Source(o => o with { MaxResponseBytes = 100 });

        var ex = await Assert.ThrowsAsync<MetricsQueryException>(() => source.QueryAsync(ErrorsByPod, InfluxDbHistory.At(300), Ct));

        Assert.Equal(MetricsErrorKind.InvalidResponse, ex.Kind);
        Assert.Contains("raise backends.influxdb.limits.maxResponseBytes", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CheckSyntax_ValidQuery_IsNull()
    {
        Assert.Null(await Checker().CheckSyntaxAsync(ErrorsByPod, Ct));
    }

    [Theory]
    [InlineData("""SELECT mean("errors" FROM "http" WHERE $timeFilter""", "found FROM, expected )")]
    [InlineData("""SELECT "errors" FROM "http" WHERE $timeFilter GROUP BY time(15s)""", "GROUP BY requires at least one aggregate function")]
    [InlineData("""SELECT "errors" FROM "http" """, "the query has no $timeFilter")]
    [InlineData("""SELECT "errors" FROM "http" WHERE $timeFilter; DROP DATABASE "app" """, "holds a ';' at character 46")]
    public async Task CheckSyntax_BadQuery_IsWhatIsWrong(string query, string expected)
    {
        var said = await Checker().CheckSyntaxAsync(query, Ct);

        Assert.NotNull(said);
        Assert.Contains(expected, said, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CheckSyntax_UnknownDatabase_ThrowsInsteadOfBlamingTheQuery()
    {
        var checker = (IQueryChecker)Source(o => o with { Database = "nosuch" });

        var ex = await Assert.ThrowsAsync<MetricsQueryException>(() => checker.CheckSyntaxAsync(ErrorsByPod, Ct));

        Assert.Contains("database not found: nosuch", ex.Message, StringComparison.Ordinal);
    }

    private IMetricsSource Source(Func<InfluxDbOptions, InfluxDbOptions>? configure = null)
    {
        var options = new InfluxDbOptions { BaseAddress = influx.BaseAddress, Database = InfluxDbHistory.Database };
        return InfluxDbBackend.Create(_http, configure is null ? options : configure(options));
    }

    private IQueryChecker Checker() => (IQueryChecker)Source();
}
