using RollbackSentinel.Backends.InfluxDb;

namespace RollbackSentinel.Backends.Tests.InfluxDb;

public sealed class InfluxQlTextTests
{
    [Theory]
    [InlineData("""SELECT "errors" FROM "http" WHERE $timeFilter""")]
    [InlineData("""select sum("errors") / sum("total") FROM "http" WHERE "app" = 'checkout' AND $timeFilter GROUP BY time(15s), "pod";""")]
    [InlineData("""SELECT "v" FROM /^http_.*/ WHERE "pod" =~ /a|b/ AND $timeFilter""")]
    [InlineData("""SELECT "v" FROM "h" WHERE $timeFilter;""")]
    public void Problem_FitQuery_IsNull(string query)
    {
        Assert.Null(InfluxQlText.Problem(query));
    }

    [Theory]
    [InlineData("", "the query is empty")]
    [InlineData("SHOW DATABASES", "must be one SELECT statement; this one starts with 'SHOW'")]
    [InlineData("""SELECT "v" FROM "h" WHERE $timeFilter; DROP DATABASE "app" """, "holds a ';' at character 38")]
    [InlineData("""SELECT "v" INTO "copy" FROM "h" WHERE $timeFilter""", "holds INTO (at character 12): SELECT ... INTO writes points")]
    // A quote inside a regex field must not hide a second statement (a mask reading /'/ as a string's start would).
    [InlineData("""SELECT /'/ FROM "m"; DROP MEASUREMENT "http"; SELECT /'/ FROM "m" WHERE $timeFilter""", "holds a ';' at character 20")]
    [InlineData("""SELECT "v" FROM /^http_.*/ WHERE "pod" =~ /a;b/ AND $timeFilter""", "holds a ';' at character 45")]
    [InlineData("""SELECT "v" FROM "h" WHERE "note" = 'x INTO y' AND $timeFilter""", "holds INTO (at character 39)")]
    [InlineData("""SELECT "v" FROM "h" WHERE "pod" = 'a'""", "has no $timeFilter")]
    [InlineData("""SELECT "v" FROM "h" WHERE "note" = '$timeFilter'""", "has no $timeFilter")]
    [InlineData("""SELECT "v" FROM "h" WHERE $timeFilterX""", "has no $timeFilter")]
    public void Problem_UnfitQuery_SaysWhat(string query, string expected)
    {
        Assert.Contains(expected, InfluxQlText.Problem(query), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""SELECT mean("v") FROM "h" WHERE $timeFilter GROUP BY time(1m)""", 60_000)]
    [InlineData("""SELECT sum("v") FROM "h" WHERE $timeFilter group by "pod", TIME( 30s , 5s) fill(none)""", 30_000)]
    [InlineData("""SELECT mean("v") FROM "h" WHERE $timeFilter GROUP BY time(2h)""", 7_200_000)]
    [InlineData("""SELECT mean("v") FROM "h" WHERE $timeFilter GROUP BY time(500ms)""", 500)]
    public void BucketWidth_GroupByTime_IsTheBucketsWidth(string query, long expectedMs)
    {
        Assert.Equal(TimeSpan.FromMilliseconds(expectedMs), InfluxQlText.BucketWidth(query));
    }

    [Theory]
    [InlineData("""SELECT "v" FROM "h" WHERE $timeFilter""")]
    [InlineData("""SELECT "v" FROM "h" WHERE $timeFilter GROUP BY "pod" fill(none)""")]
    public void BucketWidth_RawPoints_IsNull(string query)
    {
        Assert.Null(InfluxQlText.BucketWidth(query));
    }

    [Fact]
    public void WithTimeFilter_ReplacesEachPlaceholderOutsideLiterals()
    {
        var sent = InfluxQlText.WithTimeFilter(
            """SELECT mean("v") FROM (SELECT "v" FROM "h" WHERE $timeFilter) WHERE "note" != '$timeFilter' AND $timeFilter""", 1_000, 301_000);

        Assert.Equal(
            """SELECT mean("v") FROM (SELECT "v" FROM "h" WHERE (time > 1000ms AND time <= 301000ms)) WHERE "note" != '$timeFilter' AND (time > 1000ms AND time <= 301000ms)""",
            sent);
    }

    [Fact]
    public void Mask_EscapedQuoteInsideAString_DoesNotEndIt()
    {
        // The $timeFilter after the escaped quote is seen: the string did not end at \'.
        Assert.Null(InfluxQlText.Problem("""SELECT "v" FROM "h" WHERE "a" = 'it\'s fine' AND $timeFilter"""));
    }
}
