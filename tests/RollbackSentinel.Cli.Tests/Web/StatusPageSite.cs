using Microsoft.Playwright;
using RollbackSentinel.Cli.Tests.Api;
using RollbackSentinel.Cli.Tests.Daemon;
using RollbackSentinel.Testing.Prometheus;

namespace RollbackSentinel.Cli.Tests.Web;

/// <summary>
/// A daemon with a status page over a real Prometheus backfilled with the last 4 hours, and Debian's chromium to look at
/// it. App <c>shop</c> served 10 req/s and failed 20% of them from <see cref="BreachFrom"/> to <see cref="BreachTo"/>
/// (70 to 50 minutes ago), healthy since; policy <c>shop</c> rolls back above 5% errors, evaluated every 15 s. App
/// <c>other</c> has failed half of its requests for the last 10 minutes; policy <c>other</c> pages with confirmation, so
/// an incident is waiting for an answer. A change of <c>shop</c> (v1 -> v2 by ci) is recorded at <see cref="ChangeAt"/>.
/// The read token is <see cref="ReadToken"/>.
/// </summary>
public sealed class StatusPageSite : IAsyncLifetime
{
    public const string ReadToken = "status-page-read-token";

    public const double Max = 0.05;

    private static readonly TimeSpan Scrape = TimeSpan.FromSeconds(15);

    private PrometheusServer? _prometheus;
    private InProcessSentinel? _sentinel;
    private Chromium? _chromium;

    public DateTimeOffset End { get; private set; }

    public DateTimeOffset BreachFrom { get; private set; }

    public DateTimeOffset BreachTo { get; private set; }

    public DateTimeOffset ChangeAt { get; private set; }

    internal InProcessSentinel Sentinel => _sentinel ?? throw new InvalidOperationException("not started");

    internal Chromium Chromium => _chromium ?? throw new InvalidOperationException("not started");

    public PrometheusServer Prometheus => _prometheus ?? throw new InvalidOperationException("not started");

    public string Url(string path = "") => new Uri(Sentinel.BaseAddress, path).ToString();

    public async Task InitializeAsync()
    {
        var now = TimeProvider.System.GetUtcNow();

        // The times below are relative to End (a minute ahead of now); the samples go on 30 minutes past it, so rate() at
        // now still sees a whole window of fresh samples however long the collection's tests take (with End as the last
        // sample, a test running two minutes in read a rate extrapolated over a half-empty window: 8.75 req/s, not 10).
        End = DateTimeOffset.FromUnixTimeSeconds(now.ToUnixTimeSeconds() / 15 * 15).AddSeconds(60);
        var from = End.AddHours(-4);
        var last = End.AddMinutes(30);
        BreachFrom = End.AddMinutes(-71);
        BreachTo = End.AddMinutes(-51);
        ChangeAt = BreachFrom.AddMinutes(-2);
        var failing = End.AddMinutes(-11);
        var w = new OpenMetricsWriter();
        w.Counter("http_requests", [("app", "shop"), ("code", "200")], SyntheticSeries.Counter(from, last, Scrape, t => t >= BreachFrom && t < BreachTo ? 8 : 10));
        w.Counter("http_requests", [("app", "shop"), ("code", "500")], SyntheticSeries.Counter(from, last, Scrape, t => t >= BreachFrom && t < BreachTo ? 2 : 0));
        w.Counter("http_requests", [("app", "other"), ("code", "200")], SyntheticSeries.Counter(from, last, Scrape, t => t >= failing ? 5 : 10));
        w.Counter("http_requests", [("app", "other"), ("code", "500")], SyntheticSeries.Counter(from, last, Scrape, t => t >= failing ? 5 : 0));
        using (var budget = new CancellationTokenSource(TimeSpan.FromSeconds(90)))
        {
            _prometheus = await PrometheusServer.StartAsync(new PrometheusServerOptions { OpenMetricsHistory = w.Render() }, budget.Token);
        }

        _sentinel = await InProcessSentinel.StartAsync(
            extraSettings: (options, root) =>
            {
                var read = Path.Combine(root, "read-token");
                File.WriteAllText(read, ReadToken);
                options.Http.ReadTokenFile = read;
            },
            policy: Policy,
            prometheus: _prometheus.BaseAddress);
        using var api = Sentinel.Api();
        await api.PostJsonAsync("api/v1/changes", new { policy = "shop", revision = "v2", previousRevision = "v1", by = "ci", at = Core.Evaluation.Rfc3339.Format(ChangeAt) });
        _chromium = await Chromium.LaunchAsync();
    }

    /// <summary>Waits until policy <c>other</c>'s incident has been opened (it then awaits an answer, until a test gives one), and gives its id.</summary>
    public async Task<long> OtherIncidentAsync()
    {
        using var api = Sentinel.Api();
        var incident = await api.WaitForIncidentAsync(TimeSpan.FromSeconds(45), () => Sentinel.Log.Text, "awaitingconfirmation", "acting", "acted");
        return incident.GetProperty("incident").GetProperty("id").GetInt64();
    }

    /// <summary>A new browser context signed in with <paramref name="token"/> as <paramref name="name"/>, on the overview.</summary>
    public async Task<IPage> SignInAsync(string token, string name, int width = 1280, int height = 900, ColorScheme scheme = ColorScheme.Light)
    {
        var context = await Chromium.NewContextAsync(width, height, scheme);
        var page = await context.NewPageAsync();
        await page.GotoAsync(Url());
        Assert.StartsWith(Url("login"), page.Url, StringComparison.Ordinal);
        await page.GetByLabel("API token").FillAsync(token);
        await page.GetByLabel("Your name (recorded with your answers)").FillAsync(name);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        try
        {
            await page.WaitForURLAsync(Url(), Chromium.Arrived);
        }
        catch (TimeoutException)
        {
            Assert.Fail($"signed in, the browser is still at {page.Url}: {await page.ContentAsync()}");
        }

        return page;
    }

    private static string Policy(string name, Uri webhook) => name == "shop"
        ? $$"""
            apiVersion: rollback-sentinel/v1
            kind: RollbackPolicy
            metadata:
              name: shop
            spec:
              target:
                webhook:
                  url: {{webhook}}rollback-shop
              schedule:
                interval: 15s
              triggers:
                - name: errors
                  errorRate:
                    errors: sum(rate(http_requests_total{app="shop",code=~"5.."}[1m]))
                    total: sum(rate(http_requests_total{app="shop"}[1m]))
                    max: 0.05
                    minTotal: 1
                  action: rollback
            """
        : $$"""
            apiVersion: rollback-sentinel/v1
            kind: RollbackPolicy
            metadata:
              name: other
            spec:
              target:
                webhook:
                  url: {{webhook}}rollback-other
              schedule:
                interval: 1s
              watch: {outside: rollback}
              confirm:
                approvers: [U024BE7LH]
                timeout: 1h
                onTimeout: hold
              triggers:
                - name: errors
                  errorRate:
                    errors: sum(rate(http_requests_total{app="other",code=~"5.."}[1m]))
                    total: sum(rate(http_requests_total{app="other"}[1m]))
                    max: 0.05
                    minTotal: 1
                  action: page
            """;

    public async Task DisposeAsync()
    {
        if (_chromium is not null)
        {
            await _chromium.DisposeAsync();
        }

        if (_sentinel is not null)
        {
            await _sentinel.DisposeAsync();
        }

        if (_prometheus is not null)
        {
            await _prometheus.DisposeAsync();
        }
    }
}
