using RollbackSentinel.Core.Backtesting;
using RollbackSentinel.Core.Changes;
using RollbackSentinel.Core.Evaluation;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.State;
using RollbackSentinel.Prometheus;
using RollbackSentinel.Rules;
using RollbackSentinel.Testing.Time;
using static RollbackSentinel.Cli.Tests.Backtest.ScenarioHistory;

namespace RollbackSentinel.Cli.Tests.Backtest;

/// <summary>
/// The daemon's path (instant queries, one evaluation per tick of a clock) and the backtest's path (range
/// queries replayed) must make the same decisions on the same real Prometheus data, judged against the same
/// changes: the deploy, and what the policy's detect query finds.
/// </summary>
public sealed class LiveAgreesWithBacktestTests(ScenarioHistory prometheus) : IClassFixture<ScenarioHistory>
{
    private static readonly string Rules = PolicyYaml.WithWebhook("bad", """
        - name: detected
          errorRate:
            errors: sum by (deployment) (rate(http_requests_total{app="detected",code=~"5.."}[1m]))
            total: sum by (deployment) (rate(http_requests_total{app="detected"}[1m]))
            max: 0.05
            minTotal: 0.5
          for: 1m
          action: rollback
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
        // The deploy at T0+10m is given (--deployed-at) for the whole policy; the detect query finds cart's
        // generation 5 -> 6 at the same time. A short cooldown lets the second rollback act after the first.
        var yaml = Rules.Replace("spec:\n", "spec:\n  cooldown: 1s\n  watch:\n    detect:\n      query: max by (deployment) (kube_deployment_status_observed_generation{app=\"detected\"})\n", StringComparison.Ordinal);
        var policy = Assert.Single(PolicyParser.Parse("live.yaml", yaml).Policies);
        using var http = new HttpClient();
        var client = new PrometheusClient(http, new PrometheusOptions { BaseAddress = prometheus.BaseAddress });
        var window = new BacktestWindow(T0, End, DeployedAt: DeployAt);

        var backtest = await new Backtester(client, (_, _, _) => []).RunAsync([policy], window, CancellationToken.None);

        // The daemon: at each evaluation, the detect query first (a change found now is known now), then the triggers.
        var time = new ManualTimeProvider(T0);
        var runner = new PolicyRunner(policy, time);
        var changes = window.GivenChanges(policy.Name);
        IReadOnlyList<Sample>? previous = null;
        var live = new List<Decision>();
        while (time.GetUtcNow() <= End)
        {
            var now = time.GetUtcNow();
            var current = await client.QueryAsync(policy.Watch.Detect.Query!, now, CancellationToken.None);
            foreach (var change in QueryChangeDetection.Compare(policy.Name, previous, current, now))
            {
                changes = changes.With(change);
            }

            previous = current;
            var resolver = new InstantQueryResolver(client, changes);
            live.AddRange((await runner.EvaluateAsync(resolver, changes, static (_, _) => ValueTask.CompletedTask, slot: null, CancellationToken.None)).Step.Decisions);
            time.Advance(Scrape);
        }

        Assert.Equal(
            ["detected:rollback", "errors:rollback", "gap:notify", "p95-vs-yesterday:page"],
            backtest.Decisions.Where(d => d.Kind == DecisionKind.Act).Select(d => $"{d.Trigger}:{d.Action.ToString().ToLowerInvariant()}").Order(StringComparer.Ordinal));
        Assert.Equal("6", backtest.Decisions.Single(d => d.Trigger == "detected" && d.Kind == DecisionKind.Act).Blamed!.Revision);
        Assert.Equal(changes.All, backtest.Changes);
        Assert.Equal(
            backtest.Decisions.Select(d => (d.At, d.Trigger, d.Kind, d.Action, d.Disarmed, d.Blamed, d.Labels, d.Verdict.Summary)),
            live.Select(d => (d.At, d.Trigger, d.Kind, d.Action, d.Disarmed, d.Blamed, d.Labels, d.Verdict.Summary)));
    }
}
