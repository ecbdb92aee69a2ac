using Microsoft.Data.Sqlite;

namespace RollbackSentinel.Storage.Tests;

public sealed class SqliteSmokeTests
{
    [Fact]
    public void Sqlite_OpensAndAnswersAQuery()
    {
        using var c = new SqliteConnection("Data Source=:memory:");
        c.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "select sqlite_version()";
        Assert.StartsWith("3.", (string)cmd.ExecuteScalar()!);
    }
}
