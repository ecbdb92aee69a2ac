using RollbackSentinel.Core.Changes;
using RollbackSentinel.Core.Metrics;

namespace RollbackSentinel.Cli.Tests.Backtest;

/// <summary><c>--changes FILE</c> reads the API's change format, line by line; each bad line names its line and field.</summary>
public sealed class BacktestChangesFileTests
{
    [Fact]
    public void Parse_EveryFieldOfTheApiFormat_IsRead()
    {
        var (changes, errors) = BacktestChangesFile.Parse("c.jsonl", """
            {"id":12,"policy":"shop","labels":{"deployment":"cart"},"at":"2026-11-20T12:10:00+02:00","source":"target","revision":"7","previousRevision":"6","by":"rollback-sentinel","description":"undo","recordedAt":"2026-11-20T10:10:30Z"}
            """);

        Assert.Empty(errors);
        var c = Assert.Single(changes);
        Assert.Equal(
            (12L, "shop", LabelSet.Of(("deployment", "cart")), new DateTimeOffset(2026, 11, 20, 10, 10, 0, TimeSpan.Zero), ChangeSource.Target, "7", "6", "rollback-sentinel", "undo", (DateTimeOffset?)new DateTimeOffset(2026, 11, 20, 10, 10, 30, TimeSpan.Zero)),
            (c.Id, c.Policy, c.Labels, c.At, c.Source, c.Revision, c.PreviousRevision, c.By, c.Description, c.RecordedAt));
        Assert.True(c.IsSentinelRollback);
    }

    [Fact]
    public void Parse_OnlyPolicyAndAtWithNullsAndCrlfAndBlankLines_DefaultsTheRest()
    {
        var (changes, errors) = BacktestChangesFile.Parse("c.jsonl", "\r\n{\"policy\":\"a\",\"at\":\"2026-11-20T10:00:00Z\",\"labels\":null,\"revision\":null,\"source\":null}\r\n   \r\n{\"policy\":\"b\",\"at\":\"2026-11-20T11:00:00Z\"}\r\n");

        Assert.Empty(errors);
        Assert.Equal(
            [("a", ChangeSource.Api, LabelSet.Empty, (string?)null, 0L), ("b", ChangeSource.Api, LabelSet.Empty, null, 0L)],
            changes.Select(c => (c.Policy, c.Source, c.Labels, c.Revision, c.Id)));
    }

    [Theory]
    [InlineData("""{"policy":"a","at":"2026-11-20T10:00:00Z","id":"7"}""", "c.jsonl:1: id: must be a whole number, got \"7\"")]
    [InlineData("""{"policy":"","at":"2026-11-20T10:00:00Z"}""", "c.jsonl:1: policy: must not be empty")]
    [InlineData("""{"policy":"a"}""", "c.jsonl:1: at: required (when the change happened, RFC 3339 such as 2026-11-22T10:00:00Z)")]
    [InlineData("""{"policy":"a","at":"2026-11-20 10:00"}""", "c.jsonl:1: at: must be an RFC 3339 time such as 2026-11-22T10:00:00Z, got '2026-11-20 10:00'")]
    [InlineData("""{"policy":"a","at":"2026-11-20T10:00:00Z","labels":["deployment"]}""", "c.jsonl:1: labels: must be an object of label names to values, got an array")]
    [InlineData("""{"policy":"a","at":"2026-11-20T10:00:00Z","labels":{"__name__":"up"}}""", "c.jsonl:1: labels.__name__: a change concerns series, not a metric name")]
    [InlineData("""{"policy":"a","at":"2026-11-20T10:00:00Z","by":7}""", "c.jsonl:1: by: must be a string, got 7")]
    [InlineData("""{"policy":"a","at":"2026-11-20T10:00:00Z","recordedAt":"soon"}""", "c.jsonl:1: recordedAt: must be an RFC 3339 time such as 2026-11-22T10:00:00Z, got 'soon'")]
    [InlineData("""["policy","a"]""", "c.jsonl:1: must be a JSON object (a change), got an array")]
    public void Parse_BadLine_SaysWhichFieldAndWhy(string line, string expected)
    {
        var (changes, errors) = BacktestChangesFile.Parse("c.jsonl", line);

        Assert.Empty(changes);
        Assert.Equal([expected], errors);
    }
}
