using BenchmarkDotNet.Attributes;
using RollbackSentinel.Core.Evaluation;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Core.State;
using RollbackSentinel.Rules;

namespace RollbackSentinel.Benchmarks;

/// <summary>
/// One evaluation of one policy whose queries return many series (one per pod, route, customer...): query
/// results to verdicts to the state machine's step. Must grow linearly with the series count.
/// </summary>
[MemoryDiagnoser]
public class SeriesBenchmarks
{
    private static readonly DateTimeOffset At = new(2026, 11, 20, 0, 0, 0, TimeSpan.Zero);
    private Policy _errorRate = null!;
    private Policy _latency = null!;
    private FixedResolver _resolver = null!;

    /// <summary>Series per query.</summary>
    [Params(1_000, 10_000, 20_000, 100_000)]
    public int Series { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var parsed = PolicyParser.Parse("bench.yaml", PolicyYaml("error-rate", """
                  errorRate:
                    errors: sum by (pod) (rate(http_requests_total{code=~"5.."}[1m]))
                    total: sum by (pod) (rate(http_requests_total[1m]))
                    max: 0.05
                    minTotal: 0.5
            """) + "\n---\n" + PolicyYaml("latency", """
                  latency:
                    query: p95_canary
                    baseline:
                      query: p95_stable
                    maxRatio: 1.5
            """));
        if (parsed.HasErrors)
        {
            throw new InvalidOperationException(string.Join("\n", parsed.Diagnostics));
        }

        _errorRate = parsed.Policies[0];
        _latency = parsed.Policies[1];

        // Every tenth series breaches; errors exist for half of the series, in another order than the totals.
        LabelSet Pod(int i) => LabelSet.Of(("pod", $"checkout-{i:x8}"));
        _resolver = new FixedResolver(new Dictionary<string, IReadOnlyList<Sample>>
        {
            ["sum by (pod) (rate(http_requests_total{code=~\"5..\"}[1m]))"] =
                Enumerable.Range(0, Series).Where(i => i % 2 == 0).Reverse().Select(i => new Sample(Pod(i), i % 10 == 0 ? 5 : 0.1)).ToArray(),
            ["sum by (pod) (rate(http_requests_total[1m]))"] = Enumerable.Range(0, Series).Select(i => new Sample(Pod(i), 10)).ToArray(),
            ["p95_canary"] = Enumerable.Range(0, Series).Select(i => new Sample(Pod(i), i % 10 == 0 ? 0.9 : 0.1)).ToArray(),
            ["p95_stable"] = Enumerable.Range(0, Series).Reverse().Select(i => new Sample(Pod(i), 0.1)).ToArray(),
        });
    }

    [Benchmark]
    public Task<int> ErrorRate() => EvaluateAsync(_errorRate);

    [Benchmark]
    public Task<int> LatencyVsBaseline() => EvaluateAsync(_latency);

    private async Task<int> EvaluateAsync(Policy policy)
    {
        var evaluation = await PolicyEvaluator.EvaluateAsync(policy, PolicyState.Empty, At, _resolver, CancellationToken.None);
        return evaluation.Step.Decisions.Count;
    }

    private static string PolicyYaml(string name, string condition) =>
        $$$"""
        apiVersion: rollback-sentinel/v1
        kind: RollbackPolicy
        metadata:
          name: {{{name}}}
        spec:
          target:
            kubectl:
              name: "{{ labels.pod }}"
              namespace: shop
          schedule:
            interval: 15s
          triggers:
            - name: t
              action: rollback

        """ + condition;

    private sealed class FixedResolver(IReadOnlyDictionary<string, IReadOnlyList<Sample>> results) : IQueryResolver
    {
        public ValueTask<QueryOutcome> ResolveAsync(QuerySpec spec, DateTimeOffset at, CancellationToken cancellationToken) =>
            ValueTask.FromResult(QueryOutcome.Success(spec, "2026-11-20T00:00:00Z", results[spec.Expression]));
    }
}
