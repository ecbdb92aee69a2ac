using RollbackSentinel.Core.Secrets;
using RollbackSentinel.Hosting;

namespace RollbackSentinel.Cli.Tests.Hosting;

/// <summary><c>storage.postgres</c> as validated: errors name the key and never repeat the string; its password becomes a known secret.</summary>
public sealed class PostgresSettingsTests
{
    [Fact]
    public void Validate_InlineConnectionString_RegistersItsPasswordForRedaction()
    {
        var password = "inline-" + Guid.NewGuid().ToString("N");
        var options = Options($"Host=db.internal;Database=sentinel;Username=sentinel;Password={password}");

        var errors = options.Validate();

        Assert.DoesNotContain(errors, e => e.StartsWith("storage:", StringComparison.Ordinal));
        Assert.Equal($"auth failed: {SecretRegistry.Marker}", SecretRegistry.Shared.Redact($"auth failed: {password}"));
        Assert.Equal("PostgreSQL db.internal:5432/sentinel (storage.postgres.connectionString)", options.DescribeStore());
    }

    [Fact]
    public void Validate_UnparsableOrHostlessConnectionString_NamesTheKeyWithoutRepeatingIt()
    {
        var password = "unparsable-" + Guid.NewGuid().ToString("N");

        var unparsable = Options($"Host=db;Password={password};No Such Keyword=1").Validate();
        var hostless = Options($"Database=sentinel;Password={password}").Validate();

        var error = Assert.Single(unparsable, e => e.StartsWith("storage:postgres:connectionString: ", StringComparison.Ordinal));
        Assert.Contains("cannot be parsed", error);
        Assert.Contains(hostless, e => e == "storage:postgres:connectionString: The PostgreSQL connection string names no Host. (Parameter 'connectionString')");
        Assert.DoesNotContain(unparsable.Concat(hostless), e => e.Contains(password, StringComparison.Ordinal));
    }

    [Fact]
    public void Validate_EmptyConnectionStringFile_NamesTheKeyAndTheFile()
    {
        var file = Path.GetTempFileName();
        try
        {
            var options = new SentinelOptions { Storage = new SentinelOptions.StorageSettings { Postgres = new SentinelOptions.PostgresSettings { ConnectionStringFile = file } } };

            Assert.Contains(options.Validate(), e => e == $"storage:postgres:connectionStringFile: {file} is empty; it must hold the PostgreSQL connection string (storage.postgres)");
        }
        finally
        {
            File.Delete(file);
        }
    }

    private static SentinelOptions Options(string connectionString) =>
        new() { Storage = new SentinelOptions.StorageSettings { Postgres = new SentinelOptions.PostgresSettings { ConnectionString = connectionString } } };
}
