using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using RollbackSentinel.Cli.Tests.Api;
using RollbackSentinel.Daemon;
using RollbackSentinel.Telemetry;
using RollbackSentinel.Testing.Time;

namespace RollbackSentinel.Cli.Tests.Cluster;

/// <summary>A slot fired on a node whose rules lack the policy: counted every time, logged once per five minutes per policy.</summary>
public sealed class ForeignPolicyRunsTests : IDisposable
{
    private readonly ServiceProvider _services = new ServiceCollection().AddSentinelTelemetry().BuildServiceProvider();
    private readonly LogCapture _logs = new();
    private readonly ManualTimeProvider _time = new(new DateTimeOffset(2026, 12, 5, 16, 0, 0, TimeSpan.Zero));

    public void Dispose() => _services.Dispose();

    [Fact]
    public void Record_EverySlotCounted_LoggedOncePerFiveMinutesPerPolicy()
    {
        using var loggers = LoggerFactory.Create(l => l.AddProvider(_logs));
        var foreign = new ForeignPolicyRuns(_services.GetRequiredService<SentinelMetrics>(), _time, loggers.CreateLogger<ForeignPolicyRuns>());

        foreign.Record("checkout");
        _time.Advance(TimeSpan.FromSeconds(15));
        foreign.Record("checkout");
        foreign.Record("search");
        _time.Advance(TimeSpan.FromMinutes(4));
        foreign.Record("checkout");
        _time.Advance(TimeSpan.FromMinutes(1));
        foreign.Record("checkout");

        var text = Telemetry.Exposition.Collect(_services);
        Assert.Contains("rollback_sentinel_cluster_foreign_policy_runs_total{policy=\"checkout\"} 4", text, StringComparison.Ordinal);
        Assert.Contains("rollback_sentinel_cluster_foreign_policy_runs_total{policy=\"search\"} 1", text, StringComparison.Ordinal);
        var logged = _logs.Entries.Where(e => e.Contains("[1120]", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, logged.Count(e => e.Contains("Policy checkout is scheduled in the cluster but not in this node's rules", StringComparison.Ordinal)));
        Assert.Single(logged, e => e.Contains("Policy search", StringComparison.Ordinal));
        Assert.All(logged, e => Assert.StartsWith("Warning", e, StringComparison.Ordinal));
    }
}
