using Xunit;

namespace RollbackSentinel.Testing.Graphite;

/// <summary>
/// Shares one <see cref="GraphiteServer"/> across a test class (<c>IClassFixture&lt;T&gt;</c>): started once, with the
/// points of <see cref="SeedAsync"/> written and readable before the first test runs.
/// </summary>
public abstract class GraphiteFixture : IAsyncLifetime
{
    /// <summary>Bound on migrate, both processes' startup and the seed, so a broken setup fails the class instead of hanging it.</summary>
    private static readonly TimeSpan StartBudget = TimeSpan.FromSeconds(180);

    private GraphiteServer? _server;

    public GraphiteServer Server => _server ?? throw new InvalidOperationException("The Graphite fixture has not been started.");

    public Uri BaseAddress => Server.BaseAddress;

    public async Task InitializeAsync()
    {
        using var budget = new CancellationTokenSource(StartBudget);
        _server = await GraphiteServer.StartAsync(budget.Token);
        await SeedAsync(_server, budget.Token);
    }

    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }

    /// <summary>Writes the points the class's tests read (<see cref="GraphiteServer.WriteAsync"/>).</summary>
    protected abstract Task SeedAsync(GraphiteServer server, CancellationToken cancellationToken);
}
