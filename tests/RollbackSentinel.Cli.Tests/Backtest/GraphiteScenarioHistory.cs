using RollbackSentinel.Testing.Graphite;

namespace RollbackSentinel.Cli.Tests.Backtest;

/// <summary>
/// A real Graphite holding the good, bad, lowtraffic and gap scenarios of <see cref="ScenarioHistory"/> the way Graphite
/// stores traffic: not counters but per-interval values. Every 10 s (the fixture's storage step) each app has two tagged
/// series, <c>requests;app=APP</c> and <c>errors;app=APP</c>, holding the per-second rates of all requests and of the
/// failed ones over the 10 s ending at the point's timestamp (statsd's convention: a flush at t reports the interval
/// before t). Points run from T0+10s to T0+40m, so the interval (T0, T0+10s] is the first and nothing is known before T0,
/// as the Prometheus counters start at T0.
/// </summary>
/// <remarks>
/// <para>
/// The Prometheus and VictoriaMetrics scenarios sit at T0 = 2026-11-20T10:00:00Z, but the fixture's whisper files keep
/// 10 s points for 7 days (<see cref="GraphiteServer.Retention"/>) back from the machine's clock, and carbon silently drops
/// older points (WriteAsync would then time out waiting for them). Here T0 is the current hour two days ago: the points
/// are stored exactly (T0 is a multiple of 10 s, so no point is rounded to another slot) and the class keeps working
/// whatever the date, where a longer retention only postpones the day the fixed date falls out of it.
/// </para>
/// <para>
/// <see cref="SettingsPath"/> names the Graphite twice, as <c>graphite</c> (the default lookback, 5m) and as
/// <c>graphite-30s</c> (<c>lookback: 30s</c>); its <c>prometheus:</c> block points at a port nothing listens on, so a
/// query that went to the default backend by mistake fails.
/// </para>
/// </remarks>
public sealed class GraphiteScenarioHistory : GraphiteFixture, IAsyncLifetime
{
    /// <summary>The start of the scenarios: the current hour (UTC), two days ago.</summary>
    public static readonly DateTimeOffset T0 = DateTimeOffset.FromUnixTimeSeconds(
        (TimeProvider.System.GetUtcNow() - TimeSpan.FromDays(2)).ToUnixTimeSeconds() / 3600 * 3600);

    public static readonly DateTimeOffset DeployAt = T0.AddMinutes(10);
    public static readonly DateTimeOffset End = T0.AddMinutes(40);

    /// <summary>The apps written, each as <c>requests;app=APP</c> and <c>errors;app=APP</c>.</summary>
    public static readonly string[] Apps = ["good", "bad", "lowtraffic", "gap"];

    private DirectoryInfo? _folder;

    public string SettingsPath { get; private set; } = string.Empty;

    /// <summary>
    /// The per-second (requests, errors) rates over the 10 s ending at <paramref name="t"/>, or null where nothing was
    /// recorded. An interval counts as after the deploy when it starts at or after it: the first bad point of "bad" is
    /// T0+10m10s, as its first bad Prometheus scrape interval is (T0+10m, T0+10m15s].
    /// </summary>
    public static (double Requests, double Errors)? Rates(string app, DateTimeOffset t)
    {
        var after = t - GraphiteServer.Step >= DeployAt;
        return app switch
        {
            // 10 req/s, 0.5% failing.
            "good" => (10, 0.05),

            // 0.5% failing, then 20% from the deploy on.
            "bad" => after ? (10, 2) : (10, 0.05),

            // 0.2 req/s, half of them failing.
            "lowtraffic" => (0.2, 0.1),

            // Healthy, but no point from the deploy until T0+20m: the last one before the gap is T0+9m50s, the next T0+20m.
            "gap" => t >= DeployAt && t < T0.AddMinutes(20) ? null : (10, 0.05),
            _ => throw new ArgumentOutOfRangeException(nameof(app), app, "not a scenario"),
        };
    }

    protected override async Task SeedAsync(GraphiteServer server, CancellationToken cancellationToken)
    {
        var points = new List<GraphitePoint>();
        foreach (var app in Apps)
        {
            for (var t = T0 + GraphiteServer.Step; t <= End; t += GraphiteServer.Step)
            {
                if (Rates(app, t) is { } r)
                {
                    points.Add(new($"requests;app={app}", r.Requests, t));
                    points.Add(new($"errors;app={app}", r.Errors, t));
                }
            }
        }

        await server.WriteAsync(points, cancellationToken);

        _folder = Directory.CreateTempSubdirectory("sentinel-graphite-settings-");
        SettingsPath = Path.Combine(_folder.FullName, "sentinel.yaml");
        await File.WriteAllTextAsync(
            SettingsPath,
            $"""
            prometheus:
              url: http://127.0.0.1:{Testing.Net.FreePort.Next()}
            backends:
              graphite:
                type: graphite
                url: {server.BaseAddress}
              graphite-30s:
                type: graphite
                url: {server.BaseAddress}
                lookback: 30s

            """,
            cancellationToken);
    }

    /// <summary>Stops Graphite (<see cref="GraphiteFixture.DisposeAsync"/>) and deletes the settings.</summary>
    public new async Task DisposeAsync()
    {
        await base.DisposeAsync();
        _folder?.Delete(recursive: true);
    }
}
