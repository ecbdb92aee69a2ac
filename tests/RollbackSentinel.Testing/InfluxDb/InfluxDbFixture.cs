using Xunit;

namespace RollbackSentinel.Testing.InfluxDb;

/// <summary>
/// Shares one <see cref="InfluxDbServer"/> across a test class (<c>IClassFixture&lt;T&gt;</c>): started once, seeded once
/// by <see cref="SeedAsync"/>, stopped after the class.
/// </summary>
public abstract class InfluxDbFixture : IAsyncLifetime
{
    /// <summary>Bound on start plus seeding, so a broken setup fails the class instead of hanging it.</summary>
    private static readonly TimeSpan StartBudget = TimeSpan.FromSeconds(90);

    private InfluxDbServer? _server;

    public InfluxDbServer Server => _server ?? throw new InvalidOperationException("The InfluxDB fixture has not been started.");

    public Uri BaseAddress => Server.BaseAddress;

    public async Task InitializeAsync()
    {
        using var budget = new CancellationTokenSource(StartBudget);
        _server = await InfluxDbServer.StartAsync(CreateOptions(), budget.Token);
        await SeedAsync(_server, budget.Token);
    }

    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }

    protected virtual InfluxDbServerOptions CreateOptions() => new();

    /// <summary>Creates this fixture's databases and writes its points.</summary>
    protected abstract Task SeedAsync(InfluxDbServer server, CancellationToken cancellationToken);
}
