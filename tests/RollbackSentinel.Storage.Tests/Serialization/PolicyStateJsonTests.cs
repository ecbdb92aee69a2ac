using System.Collections.Immutable;
using System.Text.Json;
using RollbackSentinel.Core.Evaluation;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.State;
using RollbackSentinel.Storage.Serialization;
using RollbackSentinel.Storage.Tests.Support;
using static RollbackSentinel.Storage.Tests.Support.Samples;

namespace RollbackSentinel.Storage.Tests.Serialization;

public sealed class PolicyStateJsonTests
{
    /// <summary>_odd ticks (sub-millisecond) and non-UTC offsets: the round trip must keep both.</summary>
    private static readonly DateTimeOffset _odd = new DateTimeOffset(2026, 11, 20, 16, 30, 45, TimeSpan.FromHours(2)).AddTicks(1_234_567);

    public static PolicyState RichState()
    {
        var series = ImmutableDictionary.CreateBuilder<SeriesKey, SeriesState>();
        series.Add(new SeriesKey("error-rate", AwkwardLabels), new SeriesState
        {
            Phase = TriggerPhase.Firing,
            BreachingSince = _odd,
            FiringSince = _odd.AddMinutes(2).AddTicks(3),
            NonConclusiveRun = 0,
            AbsentRun = 2,
        });
        series.Add(new SeriesKey("error-rate", LabelSet.Of(("deployment", "cart"))), new SeriesState
        {
            Phase = TriggerPhase.Pending,
            BreachingSince = new DateTimeOffset(2026, 11, 20, 9, 0, 0, TimeSpan.FromHours(-5)).AddTicks(1),
        });
        series.Add(new SeriesKey("p95 \"vs\" stable", LabelSet.Empty), new SeriesState
        {
            Phase = TriggerPhase.Ok,
            NonConclusiveRun = 3,
            NonConclusiveSince = DateTimeOffset.MinValue,
        });
        return new PolicyState
        {
            Series = series.ToImmutable(),
            LastActionAt = ImmutableDictionary<string, DateTimeOffset>.Empty
                .Add("kubectl/checkout/shop", _odd)
                .Add("webhook/https://deploy.example/ü?x=\"1\"", DateTimeOffset.MaxValue),
            Progress = ImmutableDictionary<SeriesKey, GateProgress>.Empty
                .Add(new SeriesKey("error-rate", AwkwardLabels), new GateProgress(VerdictKind.Pass, _odd, 4, _odd.AddHours(-1).AddTicks(7), 42))
                .Add(new SeriesKey("p95 \"vs\" stable", LabelSet.Empty), new GateProgress(VerdictKind.Inconclusive, _odd, 0, null, null)),
        };
    }

    [Fact]
    public void RoundTrip_EveryFieldAwkwardLabelsAndOddTimes_IsExact()
    {
        var state = RichState();

        var back = PolicyStateJson.Deserialize(PolicyStateJson.Serialize(state));

        StateAssert.Same(state, back);
    }

    [Fact]
    public void RoundTrip_Empty_IsEmpty()
    {
        var back = PolicyStateJson.Deserialize(PolicyStateJson.Serialize(PolicyState.Empty));

        Assert.Empty(back.Series);
        Assert.Empty(back.LastActionAt);
    }

    [Fact]
    public void Serialize_LabelsAsAnObjectAndEveryField_Readable()
    {
        var key = new SeriesKey("error-rate", LabelSet.Of(("deployment", "cart"), ("app", "shop")));
        var state = new PolicyState
        {
            Series = ImmutableDictionary<SeriesKey, SeriesState>.Empty.Add(key, new SeriesState { Phase = TriggerPhase.Pending, BreachingSince = T0 }),
        };

        var json = PolicyStateJson.Serialize(state);

        Assert.Equal(
            """{"format":1,"series":[{"trigger":"error-rate","labels":{"app":"shop","deployment":"cart"},"phase":"Pending","breachingSince":"2026-11-20T14:30:00+00:00","firingSince":null,"nonConclusiveRun":0,"nonConclusiveSince":null,"absentRun":0}],"lastActionAt":{},"lastEvaluatedAt":null,"fingerprints":{},"progress":[]}""",
            json);
    }

    [Fact]
    public void RoundTrip_LastEvaluatedAtAndFingerprints_AreKept_AndAStateWrittenWithoutThemStillReads()
    {
        var state = new PolicyState
        {
            LastEvaluatedAt = T0,
            Fingerprints = ImmutableDictionary<string, string>.Empty.Add("errors", "Trigger { Name = errors }"),
        };

        var back = PolicyStateJson.Deserialize(PolicyStateJson.Serialize(state));
        var old = PolicyStateJson.Deserialize("""{"format":1,"series":[],"lastActionAt":{}}""");

        Assert.Equal(T0, back.LastEvaluatedAt);
        Assert.Equal("Trigger { Name = errors }", back.Fingerprints["errors"]);
        Assert.Null(old.LastEvaluatedAt);
        Assert.Empty(old.Fingerprints);
    }

    [Fact]
    public void Serialize_GateProgress_ReadableAndRoundTrips()
    {
        var key = new SeriesKey("error-rate", LabelSet.Of(("deployment", "cart")));
        var state = new PolicyState { Progress = ImmutableDictionary<SeriesKey, GateProgress>.Empty.Add(key, new GateProgress(VerdictKind.Pass, T0, 3, T0.AddMinutes(-10), 7)) };

        var json = PolicyStateJson.Serialize(state);
        var back = PolicyStateJson.Deserialize(json);

        Assert.Contains(
            """progress":[{"trigger":"error-rate","labels":{"deployment":"cart"},"lastVerdict":"Pass","lastAt":"2026-11-20T14:30:00+00:00","passes":3,"changeAt":"2026-11-20T14:20:00+00:00","changeId":7}]""",
            json,
            StringComparison.Ordinal);
        Assert.Equal(new GateProgress(VerdictKind.Pass, T0, 3, T0.AddMinutes(-10), 7), back.Progress[key]);
    }

    [Fact]
    public void Deserialize_StateWrittenBeforeGateProgress_ReadsWithNoProgress()
    {
        // As the previous release wrote it: no "progress" (every field it had, with a firing series).
        const string Old = """{"format":1,"series":[{"trigger":"t","labels":{"a":"1"},"phase":"Firing","breachingSince":"2026-11-20T14:30:00+00:00","firingSince":"2026-11-20T14:32:00+00:00","nonConclusiveRun":0,"nonConclusiveSince":null,"absentRun":0}],"lastActionAt":{"kubectl/x/y":"2026-11-20T14:32:00+00:00"},"lastEvaluatedAt":"2026-11-20T14:32:00+00:00","fingerprints":{"t":"f"}}""";

        var state = PolicyStateJson.Deserialize(Old);

        Assert.Empty(state.Progress);
        Assert.Equal(TriggerPhase.Firing, state.Series[new SeriesKey("t", LabelSet.Of(("a", "1")))].Phase);
        Assert.Equal("f", state.Fingerprints["t"]);
    }

    [Fact]
    public void Serialize_SameStateBuiltInAnotherOrder_SameText()
    {
        var a = new SeriesKey("a", LabelSet.Of(("x", "1")));
        var b = new SeriesKey("a", LabelSet.Of(("x", "2")));
        var c = new SeriesKey("b", LabelSet.Empty);
        var s = new SeriesState { Phase = TriggerPhase.Pending, BreachingSince = T0 };
        var one = new PolicyState { Series = ImmutableDictionary<SeriesKey, SeriesState>.Empty.Add(a, s).Add(b, s).Add(c, s) };
        var two = new PolicyState { Series = ImmutableDictionary<SeriesKey, SeriesState>.Empty.Add(c, s).Add(b, s).Add(a, s) };

        Assert.Equal(PolicyStateJson.Serialize(one), PolicyStateJson.Serialize(two));
    }

    [Theory]
    [InlineData("""{"format":2,"series":[],"lastActionAt":{}}""", "format 2 is not supported")]
    [InlineData("""{"format":1,"lastActionAt":{}}""", "lacks 'series'")]
    [InlineData("""{"format":1,"series":[{"trigger":"t","labels":{},"phase":"Sleeping","breachingSince":null,"firingSince":null,"nonConclusiveRun":0,"nonConclusiveSince":null,"absentRun":0}],"lastActionAt":{}}""", "unknown trigger phase 'Sleeping'")]
    [InlineData("""{"format":1,"series":[{"trigger":"t","labels":{"a":1},"phase":"Ok","breachingSince":null,"firingSince":null,"nonConclusiveRun":0,"nonConclusiveSince":null,"absentRun":0}],"lastActionAt":{}}""", "label 'a' must be a string")]
    [InlineData("""{"format":1,"series":[],"lastActionAt":{"x":"yesterday"}}""", "not valid")]
    [InlineData("""{"format":1,"series":[""", "not valid")]
    [InlineData("""{"format":1,"series":[],"lastActionAt":{},"progress":[{"trigger":"t","labels":{},"lastVerdict":"Maybe","lastAt":"2026-11-20T14:30:00+00:00","passes":1,"changeAt":null,"changeId":null}]}""", "unknown verdict kind 'Maybe'")]
    [InlineData("""{"format":1,"series":[],"lastActionAt":{},"progress":[{"trigger":"t","labels":{},"lastVerdict":"Pass","lastAt":"2026-11-20T14:30:00+00:00","changeAt":null,"changeId":null}]}""", "lacks 'passes'")]
    public void Deserialize_CorruptOrNewer_ThrowsInvalidDataSayingWhat(string json, string expected)
    {
        var error = Assert.Throws<InvalidDataException>(() => PolicyStateJson.Deserialize(json));

        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Deserialize_SameSeriesTwice_IsRefused()
    {
        const string Series = """{"trigger":"t","labels":{"a":"1"},"phase":"Ok","breachingSince":null,"firingSince":null,"nonConclusiveRun":1,"nonConclusiveSince":null,"absentRun":0}""";

        var error = Assert.Throws<InvalidDataException>(() => PolicyStateJson.Deserialize("""{"format":1,"series":[""" + Series + "," + Series + """],"lastActionAt":{}}"""));

        Assert.Contains("appears twice", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void LabelsJson_AwkwardValues_RoundTripAndStayReadable()
    {
        var json = LabelsJson.Write(AwkwardLabels);

        Assert.Equal(AwkwardLabels, LabelsJson.Parse(json));
        Assert.Contains("zürich-日本-", json, StringComparison.Ordinal); // emoji (outside the BMP) are \u-escaped; still exact
        Assert.Contains("""cart \"blue\"\nline2\\end\ttab""", json, StringComparison.Ordinal);
        using var document = JsonDocument.Parse(json);
        Assert.Equal(["deployment", "empty", "json", "region"], document.RootElement.EnumerateObject().Select(p => p.Name));
    }
}
