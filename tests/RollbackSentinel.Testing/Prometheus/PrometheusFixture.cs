using Xunit;

namespace RollbackSentinel.Testing.Prometheus;

/// <summary>
/// Shares one <see cref="PrometheusServer"/> across a test class (<c>IClassFixture&lt;T&gt;</c>) or a
/// collection. Each fixture instance starts and stops its own server.
/// </summary>
/// <example>
/// <code>
/// public sealed class CheckoutHistory : PrometheusFixture
/// {
///     protected override PrometheusServerOptions CreateOptions() => new() { OpenMetricsHistory = ... };
/// }
/// public sealed class MyTests(CheckoutHistory prometheus) : IClassFixture&lt;CheckoutHistory&gt; { ... }
/// </code>
/// </example>
public abstract class PrometheusFixture : IAsyncLifetime
{
    /// <summary>Bound on promtool plus Prometheus startup, so a broken setup fails the class instead of hanging it.</summary>
    private static readonly TimeSpan StartBudget = TimeSpan.FromSeconds(90);

    private PrometheusServer? _server;

    public PrometheusServer Server => _server ?? throw new InvalidOperationException("The Prometheus fixture has not been started.");

    public Uri BaseAddress => Server.BaseAddress;

    public async Task InitializeAsync()
    {
        using var budget = new CancellationTokenSource(StartBudget);
        _server = await PrometheusServer.StartAsync(CreateOptions(), budget.Token);
    }

    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }

    /// <summary>The history and configuration this fixture's server starts with.</summary>
    protected abstract PrometheusServerOptions CreateOptions();
}
