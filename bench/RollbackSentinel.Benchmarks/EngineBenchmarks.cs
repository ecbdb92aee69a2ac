using BenchmarkDotNet.Attributes;
using RollbackSentinel.Core.Backtesting;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Rules;

namespace RollbackSentinel.Benchmarks;

/// <summary>
/// The cost of deciding, without the network: a backtest over precomputed range results (so only the
/// evaluator and state machine are measured) and parsing a large rules file.
/// </summary>
[MemoryDiagnoser]
public class EngineBenchmarks
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 20, 0, 0, 0, TimeSpan.Zero);
    private List<Policy> _policies = [];
    private string _rulesYaml = string.Empty;
    private InMemorySource _source = null!;

    /// <summary>How many policies the backtest replays; each has the four trigger kinds.</summary>
    [Params(1, 100)]
    public int Policies { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _rulesYaml = string.Join("\n---\n", Enumerable.Range(0, Policies).Select(PolicyYaml));
        var parsed = PolicyParser.Parse("bench.yaml", _rulesYaml);
        if (parsed.HasErrors)
        {
            throw new InvalidOperationException(string.Join("\n", parsed.Diagnostics));
        }

        _policies = [.. parsed.Policies];
        _source = new InMemorySource();
    }

    /// <summary>One day at 15 s: 5,761 evaluations of every policy (4 triggers each).</summary>
    [Benchmark]
    public Task<BacktestResult> BacktestOneDay() =>
        new Backtester(_source, (_, _, _) => []).RunAsync(_policies, new BacktestWindow(T0, T0.AddDays(1)), CancellationToken.None);

    [Benchmark]
    public int ParseRules() => PolicyParser.Parse("bench.yaml", _rulesYaml).Policies.Count;

    private static string PolicyYaml(int i) => $$"""
        apiVersion: rollback-sentinel/v1
        kind: RollbackPolicy
        metadata:
          name: service-{{i}}
        spec:
          target:
            kubectl:
              name: service-{{i}}
              namespace: shop
          schedule:
            interval: 15s
          triggers:
            - name: errors
              errorRate:
                errors: sum(rate(http_requests_total{app="service-{{i}}",code=~"5.."}[1m]))
                total: sum(rate(http_requests_total{app="service-{{i}}"}[1m]))
                max: 0.05
                minTotal: 0.5
              for: 2m
              action: rollback
            - name: latency
              latency:
                query: p95_canary{app="service-{{i}}"}
                baseline:
                  query: p95_stable{app="service-{{i}}"}
                maxRatio: 1.5
              for: 2m
              action: page
            - name: availability
              availability:
                query: avg(up{app="service-{{i}}"})
                min: 0.95
              action: rollback
            - name: queue
              threshold:
                query: max(queue_depth{app="service-{{i}}"})
                op: ">"
                value: 1000
              action: notify
        """;

    /// <summary>
    /// Answers every range query instantly with a plausible series: a spike an hour in, for a while. Each answer is made
    /// once (at the warm-up run) and then handed out again, so a measured run counts the engine, not this stand-in
    /// for the backend.
    /// </summary>
    private sealed class InMemorySource : IMetricsSource
    {
        private readonly System.Collections.Concurrent.ConcurrentDictionary<(string, DateTimeOffset, DateTimeOffset, TimeSpan), Task<IReadOnlyList<RangeSeries>>> _answers = new();

        public Task<IReadOnlyList<Sample>> QueryAsync(string query, DateTimeOffset time, CancellationToken cancellationToken) =>
            throw new NotSupportedException();

        public Task<IReadOnlyList<RangeSeries>> QueryRangeAsync(string query, DateTimeOffset start, DateTimeOffset end, TimeSpan step, CancellationToken cancellationToken) =>
            _answers.GetOrAdd((query, start, end, step), k => Answer(k.Item1, k.Item2, k.Item3, k.Item4));

        private static Task<IReadOnlyList<RangeSeries>> Answer(string query, DateTimeOffset start, DateTimeOffset end, TimeSpan step)
        {
            var points = new List<Point>();
            for (var t = start; t <= end; t += step)
            {
                var spike = (t - start).TotalHours % 6 is > 1 and < 1.2;
                var value = query switch
                {
                    _ when query.StartsWith("sum(rate(http_requests_total", StringComparison.Ordinal) && query.Contains("5..", StringComparison.Ordinal) => spike ? 2 : 0.05,
                    _ when query.StartsWith("sum(rate", StringComparison.Ordinal) => 10,
                    _ when query.StartsWith("p95_canary", StringComparison.Ordinal) => spike ? 0.9 : 0.1,
                    _ when query.StartsWith("p95_stable", StringComparison.Ordinal) => 0.1,
                    _ when query.StartsWith("avg(up", StringComparison.Ordinal) => 1,
                    _ => 500,
                };
                points.Add(new Point(t, value));
            }

            return Task.FromResult<IReadOnlyList<RangeSeries>>([new RangeSeries(LabelSet.Empty, points)]);
        }
    }
}
