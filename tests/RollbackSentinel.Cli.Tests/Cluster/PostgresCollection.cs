using RollbackSentinel.Testing.Postgres;

namespace RollbackSentinel.Cli.Tests.Cluster;

/// <summary>One real PostgreSQL for every test class in this collection; each test takes its own database.</summary>
[CollectionDefinition(Name)]
public sealed class PostgresCollection : ICollectionFixture<PostgresFixture>
{
    public const string Name = "PostgreSQL (Quartz cluster)";
}
