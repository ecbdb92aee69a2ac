using System.Globalization;
using System.Text;
using RollbackSentinel.Testing.InfluxDb;
using static RollbackSentinel.Cli.Tests.Backtest.ScenarioHistory;

namespace RollbackSentinel.Cli.Tests.Backtest;

/// <summary>
/// A real InfluxDB 1.x holding the error-rate scenarios of <see cref="ScenarioHistory"/> (good, bad, lowtraffic, gap) as
/// points, in database <see cref="Database"/>, and daemon settings naming it as backends. One point every 15 s from T0 to
/// T0+40m (both included) per app: measurement <c>http</c>, tag <c>app</c>, float fields <c>requests</c> and <c>errors</c>.
/// </summary>
/// <remarks>
/// <para>The fields are <b>per-second rates</b> over the 15 s interval ending at the point's time, as a collector that
/// writes rates derived from counters (Telegraf's <c>derivative</c>, a StatsD flush) stores them: the point at 10:10:15
/// carries (10:10:00, 10:10:15], the first interval after the deploy. Rates, not counts per interval, so the policy's
/// numbers mean what they mean on Prometheus (<c>minTotal: 0.5</c> is 0.5 req/s, whatever the write interval), and
/// <c>mean(...) GROUP BY time(1m)</c> of a rate is the minute's requests per second, the counterpart of
/// <c>rate(x[1m])</c>; with equally long intervals the ratio of the two means is also the ratio of the minute's counts.</para>
/// <list type="bullet">
/// <item>good: 10 req/s, 0.05 errors/s (0.5%) throughout.</item>
/// <item>bad: the same up to the point at the deploy (T0+10m), then 2 errors/s of 10 (20%) from the point at T0+10m15s on.</item>
/// <item>lowtraffic: 0.2 req/s, 0.1 of them failing, throughout.</item>
/// <item>gap: as good, but no point from the deploy (T0+10m) until T0+20m: the last before it at T0+9m45s, the next at T0+20m.</item>
/// </list>
/// <para><see cref="SettingsPath"/> has three backends on this server, differing only in <c>lookback</c>: <c>influx</c> (the
/// default, 5m), <c>influx1m</c> (1m, the queries' <c>GROUP BY time()</c>) and <c>influx30s</c> (30s). Its <c>prometheus:</c>
/// block points at a port nothing listens on, so a query sent to the default backend by mistake fails.</para>
/// </remarks>
public sealed class InfluxDbScenarioHistory : IAsyncLifetime
{
    public const string Database = "app";

    private static readonly TimeSpan StartBudget = TimeSpan.FromSeconds(90);

    private InfluxDbServer? _server;
    private DirectoryInfo? _folder;

    public InfluxDbServer Server => _server ?? throw new InvalidOperationException("InfluxDB has not been started.");

    /// <summary>Settings with the backends <c>influx</c>, <c>influx1m</c> and <c>influx30s</c>.</summary>
    public string SettingsPath { get; private set; } = string.Empty;

    /// <summary>Every scenario's points as line protocol (timestamps in epoch seconds).</summary>
    public static string LineProtocol()
    {
        var lines = new StringBuilder();
        void Point(string app, DateTimeOffset t, double requests, double errors) =>
            lines.Append(CultureInfo.InvariantCulture, $"http,app={app} requests={requests},errors={errors} {t.ToUnixTimeSeconds()}\n");

        for (var t = T0; t <= End; t += Scrape)
        {
            // The point at t carries the interval (t - 15s, t]: after the deploy when t > DeployAt.
            var afterDeploy = t > DeployAt;
            Point("good", t, 10, 0.05);
            Point("bad", t, 10, afterDeploy ? 2 : 0.05);
            Point("lowtraffic", t, 0.2, 0.1);
            if (t < DeployAt || t >= T0.AddMinutes(20))
            {
                Point("gap", t, 10, 0.05);
            }
        }

        return lines.ToString();
    }

    public async Task InitializeAsync()
    {
        using var budget = new CancellationTokenSource(StartBudget);
        _server = await InfluxDbServer.StartAsync(new InfluxDbServerOptions(), budget.Token);
        await _server.CreateDatabaseAsync(Database, budget.Token);
        await _server.WriteAsync(Database, LineProtocol(), budget.Token);

        _folder = Directory.CreateTempSubdirectory("sentinel-influx-settings-");
        var url = _server.BaseAddress;
        SettingsPath = Path.Combine(_folder.FullName, "sentinel.yaml");
        await File.WriteAllTextAsync(
            SettingsPath,
            $"""
            prometheus:
              url: http://127.0.0.1:{Testing.Net.FreePort.Next()}
            backends:
              influx:
                type: influxdb
                url: {url}
                database: {Database}
              influx1m:
                type: influxdb
                url: {url}
                database: {Database}
                lookback: 1m
              influx30s:
                type: influxdb
                url: {url}
                database: {Database}
                lookback: 30s

            """,
            budget.Token);
    }

    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }

        _folder?.Delete(recursive: true);
    }
}
