using Xunit;

namespace RollbackSentinel.Testing.Postgres;

/// <summary>
/// One <see cref="PostgresServer"/> shared by a test collection (<c>ICollectionFixture&lt;PostgresFixture&gt;</c>);
/// tests take a fresh database each from <see cref="PostgresServer.CreateDatabaseAsync"/>.
/// </summary>
public sealed class PostgresFixture : IAsyncLifetime
{
    /// <summary>Bound on initdb plus startup, so a broken setup fails the collection instead of hanging it.</summary>
    private static readonly TimeSpan StartBudget = TimeSpan.FromSeconds(90);

    private PostgresServer? _server;

    public PostgresServer Server => _server ?? throw new InvalidOperationException("The PostgreSQL fixture has not been started.");

    public async Task InitializeAsync()
    {
        using var budget = new CancellationTokenSource(StartBudget);
        _server = await PostgresServer.StartAsync(budget.Token);
    }

    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }
}
