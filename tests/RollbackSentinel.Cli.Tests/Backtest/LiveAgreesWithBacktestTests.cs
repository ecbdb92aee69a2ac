using RollbackSentinel.Core.Backtesting;
using RollbackSentinel.Core.Evaluation;
using RollbackSentinel.Core.State;
using RollbackSentinel.Prometheus;
using RollbackSentinel.Rules;
using RollbackSentinel.Testing.Time;
using static RollbackSentinel.Cli.Tests.Backtest.ScenarioHistory;

namespace RollbackSentinel.Cli.Tests.Backtest;

/// <summary>
/// The daemon's path (instant queries, one evaluation per tick of a clock) and the backtest's path (range
/// queries replayed) must make the same decisions on the same real Prometheus data.
/// </summary>
public sealed class LiveAgreesWithBacktestTests(ScenarioHistory prometheus) : IClassFixture<ScenarioHistory>
{
    private static readonly string Rules = PolicyYaml.WithWebhook("bad", """
        - name: errors
          errorRate:
            errors: sum(rate(http_requests_total{app="bad",code=~"5.."}[1m]))
            total: sum(rate(http_requests_total{app="bad"}[1m]))
            max: 0.05
            minTotal: 0.5
          for: 2m
          action: rollback
        - name: p95-vs-yesterday
          latency:
            query: histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{app="daily-regression"}[2m])))
            baseline:
              offset: 1d
            maxRatio: 1.5
          for: 1m
          action: page
        - name: gap
          errorRate:
            errors: sum(rate(http_requests_total{app="gap",code=~"5.."}[1m]))
            total: sum(rate(http_requests_total{app="gap"}[1m]))
            max: 0.05
            minTotal: 0.5
          for: 1m
          noData: breach
          action: notify
        """);

    [Fact]
    public async Task InstantEvaluationOnAClock_DecidesExactlyLikeTheBacktest()
    {
        var policy = Assert.Single(PolicyParser.Parse("live.yaml", Rules).Policies);
        using var http = new HttpClient();
        var client = new PrometheusClient(http, new PrometheusOptions { BaseAddress = prometheus.BaseAddress });
        var window = new BacktestWindow(T0, End);

        var backtest = await new Backtester(client, (_, _, _) => []).RunAsync([policy], window, CancellationToken.None);

        var time = new ManualTimeProvider(T0);
        var runner = new PolicyRunner(policy, time);
        var resolver = new InstantQueryResolver(client, RollbackSentinel.Core.Changes.ChangeHistory.Empty);
        var live = new List<Decision>();
        while (time.GetUtcNow() <= End)
        {
            live.AddRange((await runner.EvaluateAsync(resolver, CancellationToken.None)).Step.Decisions);
            time.Advance(Scrape);
        }

        Assert.Equal(3, backtest.Decisions.Count(d => d.Kind == DecisionKind.Act));
        Assert.Equal(
            backtest.Decisions.Select(d => (d.At, d.Trigger, d.Kind, d.Labels, d.Verdict.Summary)),
            live.Select(d => (d.At, d.Trigger, d.Kind, d.Labels, d.Verdict.Summary)));
    }
}
