using RollbackSentinel.Storage.Postgres;

namespace RollbackSentinel.Storage.Tests.Postgres;

/// <summary>The project's pool maximum (16 for the store, 15 for Quartz) and its prepared statements (64 per connection) apply only where the connection string sets none.</summary>
public sealed class PostgresPoolSizeTests
{
    [Theory]
    [InlineData("Host=db;Database=sentinel;Maximum Pool Size=40")]
    [InlineData("Host=db;Database=sentinel;max pool size=40")]
    [InlineData("Host=db;Database=sentinel;MaxPoolSize=40")]
    [InlineData("Host=db;Database=sentinel;MAXIMUM POOL SIZE=100")]
    public void SetsMaxPoolSize_TheStringsOwnMaximumWins(string connectionString)
    {
        Assert.True(PostgresStore.SetsMaxPoolSize(connectionString));
    }

    [Theory]
    [InlineData("Host=db;Database=sentinel;Password=x")]
    [InlineData("Host=db;Database=sentinel;Minimum Pool Size=2;Options='-c search_path=x'")]
    public void SetsMaxPoolSize_NoMaximumInTheString_TheDefaultApplies(string connectionString)
    {
        Assert.False(PostgresStore.SetsMaxPoolSize(connectionString));
    }

    [Theory]
    [InlineData("Host=db;Database=sentinel;Max Auto Prepare=0", true)]
    [InlineData("Host=db;Database=sentinel;maxautoprepare=10", true)]
    [InlineData("Host=db;Database=sentinel;MAX AUTO PREPARE=20", true)]
    [InlineData("Host=db;Database=sentinel;Auto Prepare Min Usages=2", false)]
    [InlineData("Host=db;Database=sentinel;Password=x", false)]
    public void Sets_MaxAutoPrepare_OnlyWhenTheStringNamesIt(string connectionString, bool sets)
    {
        Assert.Equal(sets, PostgresStore.Sets(connectionString, "MaxAutoPrepare"));
    }

    [Fact]
    public async Task Create_PreparesStatements_UnlessTheStringSaysOtherwise_AndLeavesItsOptionsAlone()
    {
        await using var byDefault = PostgresStore.Create("Host=db;Database=sentinel", TimeProvider.System);
        await using var own = PostgresStore.Create("Host=db;Database=sentinel;Max Auto Prepare=0;Options=-c statement_timeout=5000", TimeProvider.System);

        var defaults = ((PostgresIncidentStore)byDefault).Settings;
        Assert.Equal((PostgresStore.DefaultMaxAutoPrepare, PostgresStore.DefaultMaxPoolSize), (defaults.MaxAutoPrepare, defaults.MaxPoolSize));
        Assert.Null(defaults.Options); // so Npgsql still falls back to PGOPTIONS

        var given = ((PostgresIncidentStore)own).Settings;
        Assert.Equal(0, given.MaxAutoPrepare);
        Assert.Equal("-c statement_timeout=5000", given.Options);
    }
}
