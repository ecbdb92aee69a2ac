using RollbackSentinel.Core.Changes;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;

namespace RollbackSentinel.Core.RuleTests;

/// <summary>
/// A rule test file (<c>rollback-sentinel test</c>, shaped after <c>promtool test rules</c>): rule files, the interval the
/// policies are evaluated at instead of their schedules, and the tests. Times in it are durations from a test's start.
/// </summary>
/// <param name="File">The test file, as named on the command line.</param>
/// <param name="RuleFiles">The rule files, resolved against the test file's folder.</param>
public sealed record RuleTestFile(string File, IReadOnlyList<string> RuleFiles, TimeSpan EvaluationInterval, IReadOnlyList<RuleTestCase> Tests)
{
    /// <summary>promtool's default evaluation interval.</summary>
    public static readonly TimeSpan DefaultEvaluationInterval = TimeSpan.FromMinutes(1);
}

/// <summary>One test: input series, changes, and what must happen.</summary>
/// <param name="Interval">The spacing of the input series' values.</param>
public sealed record RuleTestCase(
    string Name,
    SourceLocation Source,
    TimeSpan Interval,
    IReadOnlyList<InputSeries> Series,
    IReadOnlyList<TestChange> Changes,
    IReadOnlyList<ExpectedAction> Expect,
    IReadOnlyList<ExpectedGate> Gates)
{
    /// <summary>From the first value to the last value of the longest input series: the evaluations run 0, step, ... up to it.</summary>
    public TimeSpan Span => Series.Count == 0 ? TimeSpan.Zero : Interval * (Series.Max(s => s.Values.Count) - 1);
}

/// <summary>One input series: its name and labels, and one point per <see cref="RuleTestCase.Interval"/> from the start.</summary>
public sealed record InputSeries(SeriesName Name, IReadOnlyList<SeriesPoint> Values, SourceLocation Source);

/// <summary>A change as the API records it, <see cref="At"/> after the test's start.</summary>
public sealed record TestChange(TimeSpan At, string Policy, LabelSet Labels, SourceLocation Source)
{
    public string? Revision { get; init; }

    public string? PreviousRevision { get; init; }

    public string? By { get; init; }

    public string? Description { get; init; }

    /// <summary>The change in a test that starts at <paramref name="start"/>.</summary>
    public Change ToChange(DateTimeOffset start) => new()
    {
        Policy = Policy,
        Labels = Labels,
        At = start + At,
        Source = ChangeSource.Api,
        Revision = Revision,
        PreviousRevision = PreviousRevision,
        By = By,
        Description = Description,
        RecordedAt = start + At,
    };
}

/// <summary>
/// An expected action: of this trigger (and series, when <see cref="Labels"/> is given), at some evaluation or at
/// <see cref="At"/>; <see cref="RuleTestActions.None"/> expects no action.
/// </summary>
public sealed record ExpectedAction(string Policy, string Trigger, string Action, SourceLocation Source)
{
    public TimeSpan? At { get; init; }

    /// <summary>Only decisions of exactly this label set; null: of any.</summary>
    public LabelSet? Labels { get; init; }
}

/// <summary>An expected gate answer (<see cref="Gate.Evaluate"/>) at <see cref="At"/>, for the series matching <see cref="Filter"/>.</summary>
public sealed record ExpectedGate(TimeSpan At, string Policy, bool Open, LabelSet Filter, SourceLocation Source);
