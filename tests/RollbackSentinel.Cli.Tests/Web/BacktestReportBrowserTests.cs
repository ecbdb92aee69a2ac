using System.Globalization;
using System.Text.Json;
using Microsoft.Playwright;
using RollbackSentinel.Cli.Tests.Backtest;

namespace RollbackSentinel.Cli.Tests.Web;

/// <summary>
/// <c>backtest --format html --output FILE</c> on a real Prometheus holding <see cref="ScenarioHistory"/>, the report
/// opened from disk in chromium with the network off and every request that is not the file aborted. Policy "bad" has
/// the scenario's bad deploy: 0.5% errors, then 20% from the deploy at T0+10m (given as <c>--deployed-at</c>). Its
/// error-rate-spike trigger (rate over 1m, max 5%, for 2m) first breaches at T0+10m15s, when one of the four 15 s
/// intervals in the window is bad ((3*0.75+30)/600 = 0.05375), and rolls back at T0+12m15s
/// (<see cref="BacktestScenarioTests"/>); its second trigger (max 50%) never breaches, nor does policy "good". A change
/// file adds a change of "bad" at T0+30m.
/// </summary>
public sealed class BacktestReportBrowserTests(ScenarioHistory prometheus) : IClassFixture<ScenarioHistory>
{
    private const string FirstBreach = "2026-11-20T10:10:15Z";
    private const string DeployedAt = "2026-11-20T10:10:00Z";
    private const string ChangedAt = "2026-11-20T10:30:00Z";

    private static readonly string Bad = PolicyYaml.WithWebhook("bad", """
        - name: error-rate-spike
          errorRate:
            errors: sum(rate(http_requests_total{app="bad",code=~"5.."}[1m]))
            total: sum(rate(http_requests_total{app="bad"}[1m]))
            max: 0.05
            minTotal: 0.5
          for: 2m
          action: rollback
        - name: errors-over-half
          errorRate:
            errors: sum(rate(http_requests_total{app="bad",code=~"5.."}[1m]))
            total: sum(rate(http_requests_total{app="bad"}[1m]))
            max: 0.5
            minTotal: 0.5
          action: page
        """);

    private static readonly string Good = PolicyYaml.WithWebhook("good", """
        - name: error-rate-spike
          errorRate:
            errors: sum(rate(http_requests_total{app="good",code=~"5.."}[1m]))
            total: sum(rate(http_requests_total{app="good"}[1m]))
            max: 0.05
            minTotal: 0.5
          for: 2m
          action: rollback
        """);

    private sealed class Report : IDisposable
    {
        public required string Folder { get; init; }

        public required string Path { get; init; }

        public required CliRun Html { get; init; }

        public required CliRun Json { get; init; }

        public required CliRun Table { get; init; }

        public void Dispose() => Directory.Delete(Folder, recursive: true);
    }

    /// <summary>The same backtest three times: as the html report into a file, as JSON lines and as the table.</summary>
    private async Task<Report> BacktestAsync()
    {
        var folder = Directory.CreateTempSubdirectory("sentinel-report-").FullName;
        var rules = System.IO.Path.Combine(folder, "rules");
        Directory.CreateDirectory(rules);
        await File.WriteAllTextAsync(System.IO.Path.Combine(rules, "bad.yaml"), Bad);
        await File.WriteAllTextAsync(System.IO.Path.Combine(rules, "good.yaml"), Good);
        var changes = System.IO.Path.Combine(folder, "changes.jsonl");
        await File.WriteAllTextAsync(changes, $"{{\"policy\":\"bad\",\"at\":\"{ChangedAt}\",\"revision\":\"v43\",\"previousRevision\":\"v42\",\"by\":\"ci\"}}\n");
        string[] args =
        [
            "backtest", "--rules", rules, "--prometheus", prometheus.BaseAddress.ToString(), "--from", "2026-11-20T10:00:00Z", "--to", "2026-11-20T10:40:00Z",
            "--deployed-at", DeployedAt, "--changes", changes,
        ];
        var path = System.IO.Path.Combine(folder, "report.html");
        var report = new Report
        {
            Folder = folder,
            Path = path,
            Html = await CliRun.RunAsync([.. args, "--format", "html", "--output", path]),
            Json = await CliRun.RunAsync([.. args, "--format", "json"]),
            Table = await CliRun.RunAsync([.. args, "--format", "table"]),
        };
        Assert.True(report.Html.ExitCode == 0, $"exit {report.Html.ExitCode}: {report.Html.Error}");
        Assert.Equal(0, report.Json.ExitCode);
        Assert.Equal(0, report.Table.ExitCode);
        return report;
    }

    /// <summary>A page of a context that is offline and aborts (and counts) every request that is not for a file.</summary>
    private sealed class OfflinePage(IBrowserContext context, IPage page)
    {
        private int _aborted;

        public IBrowserContext Context => context;

        public IPage Page => page;

        public List<string> Requests { get; } = [];

        public int Aborted => _aborted;

        public static async Task<OfflinePage> OpenAsync(Chromium chromium, string file, int width = 1280, int height = 900, ColorScheme scheme = ColorScheme.Light)
        {
            var context = await chromium.NewContextAsync(width, height, scheme, offline: true);
            var page = await context.NewPageAsync();
            var offline = new OfflinePage(context, page);
            page.Request += (_, r) => offline.Requests.Add(r.Url);
            await context.RouteAsync("**/*", async route =>
            {
                if (route.Request.Url.StartsWith("file:", StringComparison.Ordinal))
                {
                    await route.ContinueAsync();
                }
                else
                {
                    Interlocked.Increment(ref offline._aborted);
                    await route.AbortAsync();
                }
            });
            await page.GotoAsync(new Uri(file).AbsoluteUri, new PageGotoOptions { WaitUntil = WaitUntilState.Load });
            return offline;
        }

        public Task<string[]> AttributesAsync(string selector, string attribute) =>
            page.EvalOnSelectorAllAsync<string[]>(selector, $"els => els.map(e => e.getAttribute('{attribute}'))");

        public Task<string[]> TextsAsync(string selector) => page.EvalOnSelectorAllAsync<string[]>(selector, "els => els.map(e => e.textContent)");
    }

    /// <summary>The table's summary row of a policy, split in columns (policy names and counts have no spaces).</summary>
    private static string[] TableSummary(CliRun table, string policy)
    {
        var lines = table.Output.Split('\n');
        var header = Array.FindLastIndex(lines, l => l.StartsWith("POLICY", StringComparison.Ordinal) && l.Contains("EVALUATIONS", StringComparison.Ordinal));
        return lines.Skip(header + 1).Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)).Single(c => c.Length > 0 && c[0] == policy);
    }

    [Fact]
    public async Task HtmlReport_OpenedOfflineFromDisk_ShowsThePlotsMarkersAndSummaryOfTheBacktest()
    {
        using var report = await BacktestAsync();
        Assert.Contains($"wrote report to {report.Path} (2 policies, ", report.Html.Error);
        Assert.Empty(report.Html.Output);
        await using var chromium = await Chromium.LaunchAsync();
        var offline = await OfflinePage.OpenAsync(chromium, report.Path);
        var page = offline.Page;

        // Nothing but the file itself was asked for.
        Assert.Equal(0, offline.Aborted);
        Assert.All(offline.Requests, url => Assert.StartsWith("file:", url, StringComparison.Ordinal));

        // The summary says what the table says.
        foreach (var policy in new[] { "bad", "good" })
        {
            var cells = await offline.TextsAsync($"#summary-table tr[data-policy='{policy}'] td");
            Assert.Equal(TableSummary(report.Table, policy)[1..], cells);
        }

        // One figure per trigger, each with its plot.
        Assert.Equal(
            ["bad/error-rate-spike", "bad/errors-over-half", "good/error-rate-spike"],
            await page.EvalOnSelectorAllAsync<string[]>("figure.plotbox", "fs => fs.map(f => f.dataset.policy + '/' + f.dataset.trigger)"));
        Assert.Equal(3, await page.Locator("figure.plotbox svg.plot").CountAsync());

        // Thresholds as the rules say; the breach from the first breaching evaluation, only where it breached.
        var spike = "#policy-bad-trigger-error-rate-spike";
        Assert.Equal([0.05], (await offline.AttributesAsync($"{spike} path.threshold", "data-value")).Distinct().Select(Parse));
        Assert.Equal([0.5], (await offline.AttributesAsync("#policy-bad-trigger-errors-over-half path.threshold", "data-value")).Distinct().Select(Parse));
        Assert.Equal([FirstBreach], await offline.AttributesAsync($"{spike} rect.breach", "data-from"));
        Assert.Equal([FirstBreach], await offline.AttributesAsync($"{spike} table.breaches tr[data-from]", "data-from"));
        Assert.Equal(0, await page.Locator("#policy-bad-trigger-errors-over-half rect.breach, #policy-good rect.breach").CountAsync());

        // A decision marker at each decision, with its sentence; the decisions table says the same.
        var decisions = report.Json.OutputLines.Select(l => JsonDocument.Parse(l).RootElement).ToArray();
        Assert.Equal(["2026-11-20T10:12:15Z"], decisions.Select(d => d.GetProperty("at").GetString()));
        Assert.Equal(decisions.Select(d => d.GetProperty("at").GetString()), await offline.AttributesAsync($"{spike} g.marker-decision", "data-at"));
        Assert.Equal(
            decisions.Select(d => $"rollback: {d.GetProperty("summary").GetString()} at {d.GetProperty("at").GetString()}"),
            await offline.AttributesAsync($"{spike} g.marker-decision", "aria-label"));
        Assert.Equal(
            decisions.Select(d => $"{d.GetProperty("at").GetString()}|bad|error-rate-spike|rollback"),
            await page.EvalOnSelectorAllAsync<string[]>(
                "#decisions-table tbody tr", "rs => rs.map(r => [...r.cells].filter((_, i) => [0, 1, 2, 4].includes(i)).map(c => c.textContent).join('|'))"));
        Assert.Equal(0, await page.Locator("#policy-bad-trigger-errors-over-half g.marker-decision, #policy-good g.marker-decision").CountAsync());

        // Change markers: the deploy on every plot, the change file's on bad's only.
        foreach (var figure in new[] { spike, "#policy-bad-trigger-errors-over-half" })
        {
            Assert.Equal([DeployedAt, ChangedAt], await offline.AttributesAsync($"{figure} g.marker-change", "data-at"));
        }

        Assert.Equal([DeployedAt], await offline.AttributesAsync("#policy-good g.marker-change", "data-at"));
        Assert.Equal("change v42 -> v43 by ci at 2026-11-20T10:30:00Z", (await offline.AttributesAsync($"{spike} g.marker-change", "aria-label"))[1]);

        if (Environment.GetEnvironmentVariable("UPDATE_SCREENSHOTS") == "1")
        {
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(RepoRoot.Path, "docs", "images", "backtest-report.png"), FullPage = true });
        }
    }

    [Fact]
    public async Task HtmlReport_Keyboard_TabReachesTheMarkersAndFocusShowsTheirText()
    {
        using var report = await BacktestAsync();
        await using var chromium = await Chromium.LaunchAsync();
        var offline = await OfflinePage.OpenAsync(chromium, report.Path);
        var page = offline.Page;

        string? label = null;
        for (var i = 0; i < 200 && label is null; i++)
        {
            await page.Keyboard.PressAsync("Tab");
            label = await page.EvaluateAsync<string?>("() => document.activeElement?.closest('g.marker')?.getAttribute('aria-label') ?? null");
        }

        Assert.Equal($"change api by --deployed-at: backtest --deployed-at at {DeployedAt}", label);

        // The focused marker shows its text on the plot (hidden until hover or focus).
        Assert.Equal(
            ["visible", label!],
            await page.EvaluateAsync<string[]>("() => { const t = document.activeElement.closest('g.marker').querySelector('.marker-label'); return [getComputedStyle(t).visibility, t.textContent]; }"));
        Assert.Equal(0, offline.Aborted);
    }

    [Fact]
    public async Task HtmlReport_OnAPhoneInDarkMode_FitsTheWidthAndIsDark()
    {
        using var report = await BacktestAsync();
        await using var chromium = await Chromium.LaunchAsync();
        var offline = await OfflinePage.OpenAsync(chromium, report.Path, width: 390, height: 844, scheme: ColorScheme.Dark);
        var page = offline.Page;

        // Wide tables scroll inside their own box; the page itself never scrolls sideways.
        Assert.True(await page.EvaluateAsync<bool>("() => document.documentElement.scrollWidth <= window.innerWidth"));
        Assert.Equal("rgb(13, 17, 23)", await page.EvaluateAsync<string>("() => getComputedStyle(document.body).backgroundColor"));
        Assert.Equal(0, offline.Aborted);
    }

    private static double Parse(string s) => double.Parse(s, CultureInfo.InvariantCulture);
}
