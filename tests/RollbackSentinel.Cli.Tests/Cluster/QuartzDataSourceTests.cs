using Npgsql;
using RollbackSentinel.Daemon;
using RollbackSentinel.Storage.Postgres;

namespace RollbackSentinel.Cli.Tests.Cluster;

/// <summary>Quartz's connection pool as the daemon configures it, from the store's connection string: no database needed.</summary>
public sealed class QuartzDataSourceTests
{
    [Fact]
    public async Task CreateDataSource_PreparesStatements_CapsThePool_AndLimitsIdleTransactions()
    {
        await using var dataSource = ClusteredScheduling.CreateDataSource("Host=db;Database=sentinel", TimeSpan.FromSeconds(5));

        var settings = new NpgsqlConnectionStringBuilder(dataSource.ConnectionString);
        Assert.Equal((PostgresStore.DefaultMaxAutoPrepare, ClusteredScheduling.DefaultMaxPoolSize), (settings.MaxAutoPrepare, settings.MaxPoolSize));
        Assert.Equal("-c idle_in_transaction_session_timeout=5000 -c synchronous_commit=off", settings.Options);
    }

    [Fact]
    public async Task CreateDataSource_TheStringsOwnSettingsWin()
    {
        await using var dataSource = ClusteredScheduling.CreateDataSource("Host=db;Database=sentinel;Max Auto Prepare=0;Maximum Pool Size=40", TimeSpan.FromSeconds(5));

        var settings = new NpgsqlConnectionStringBuilder(dataSource.ConnectionString);
        Assert.Equal((0, 40), (settings.MaxAutoPrepare, settings.MaxPoolSize));
    }
}
