using Microsoft.Extensions.Logging.Abstractions;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.StatusPage;
using RollbackSentinel.Testing.Time;

namespace RollbackSentinel.Cli.Tests.Web;

/// <summary>The policy page's replays: what is kept, and what a failure leaves behind.</summary>
public sealed class PolicyPlotsTests
{
    private static readonly Policy Shop = new()
    {
        Name = "shop",
        Target = new WebhookTarget(Template.Parse("http://127.0.0.1:9/rollback")),
        Schedule = new IntervalSchedule(TimeSpan.FromMinutes(1)),
        Triggers = [new Trigger { Name = "errors", Condition = new ThresholdCondition("sum(errors)", ComparisonOperator.GreaterThan, 1) }],
    };

    /// <summary>Throws what it is told for its first calls, then answers one flat series at 0.5.</summary>
    private sealed class FlakySource(int failures, Exception failure) : IMetricsSource
    {
        public int Calls { get; private set; }

        public Task<IReadOnlyList<Sample>> QueryAsync(string query, DateTimeOffset time, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<IReadOnlyList<RangeSeries>> QueryRangeAsync(string query, DateTimeOffset start, DateTimeOffset end, TimeSpan step, CancellationToken cancellationToken)
        {
            if (++Calls <= failures)
            {
                throw failure;
            }

            var points = new List<Point>();
            for (var t = start; t <= end; t += step)
            {
                points.Add(new Point(t, 0.5));
            }

            return Task.FromResult<IReadOnlyList<RangeSeries>>([new RangeSeries(LabelSet.Empty, points)]);
        }
    }

    [Theory]
    [InlineData(typeof(InvalidOperationException))]
    [InlineData(typeof(MetricsQueryException))]
    public async Task GetAsync_ReplayFailed_SaysWhyAndIsNotKept_TheNextRequestReplaysAgain(Type failure)
    {
        var time = new ManualTimeProvider(new DateTimeOffset(2026, 12, 6, 10, 0, 0, TimeSpan.Zero));
        var source = new FlakySource(1, failure == typeof(MetricsQueryException) ? new MetricsQueryException(MetricsErrorKind.Unreachable, "sum(errors)", "server said no") : new InvalidOperationException("a bug"));
        var plots = new PolicyPlots(new SingleBackend(source), time, new ManualLifetime(), NullLogger<PolicyPlots>.Instance);

        var failed = await plots.GetAsync(Shop, TimeSpan.FromHours(1), CancellationToken.None);
        Assert.NotNull(failed.Error);
        Assert.Equal(0, failed.Recorder.SampleCount);

        // The same window at once, and another policy's too: replayed, not the cached failure.
        var again = await plots.GetAsync(Shop, TimeSpan.FromHours(1), CancellationToken.None);
        Assert.Null(again.Error);
        Assert.Equal(61, again.Recorder.SampleCount);
        Assert.Equal((time.GetUtcNow() - TimeSpan.FromHours(1), time.GetUtcNow(), TimeSpan.FromMinutes(1)), (again.From, again.To, again.Step));

        // A good replay is kept for 15 s: no more backend calls until then.
        var calls = source.Calls;
        Assert.Same(again, await plots.GetAsync(Shop, TimeSpan.FromHours(1), CancellationToken.None));
        Assert.Equal(calls, source.Calls);
        time.Advance(TimeSpan.FromSeconds(16));
        Assert.NotSame(again, await plots.GetAsync(Shop, TimeSpan.FromHours(1), CancellationToken.None));
        Assert.True(source.Calls > calls);
    }

    [Theory]
    [InlineData(1, 60)]          // a 1m interval: 1h at 1m
    [InlineData(24 * 60, 60)]    // 1d: still the interval (1,440 points)
    [InlineData(7 * 24 * 60, 420)] // 7d: coarser, 1,440 points
    public void StepFor_AtMost1440Points_NeverFinerThanTheInterval(int windowMinutes, int stepSeconds) =>
        Assert.Equal(TimeSpan.FromSeconds(stepSeconds), PolicyPlots.StepFor(Shop, TimeSpan.FromMinutes(windowMinutes)));
}
