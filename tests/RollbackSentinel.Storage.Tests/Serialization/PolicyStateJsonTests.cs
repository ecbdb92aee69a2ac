using System.Collections.Immutable;
using System.Text.Json;
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
            """{"format":1,"series":[{"trigger":"error-rate","labels":{"app":"shop","deployment":"cart"},"phase":"Pending","breachingSince":"2026-11-20T14:30:00+00:00","firingSince":null,"nonConclusiveRun":0,"nonConclusiveSince":null,"absentRun":0}],"lastActionAt":{},"lastEvaluatedAt":null,"fingerprints":{}}""",
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
