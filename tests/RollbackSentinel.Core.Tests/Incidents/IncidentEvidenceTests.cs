using System.Buffers;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using RollbackSentinel.Core.Evaluation;
using RollbackSentinel.Core.Incidents;
using RollbackSentinel.Core.State;
using TriggerAction = RollbackSentinel.Core.Policies.TriggerAction;
using static RollbackSentinel.Core.Tests.Incidents.IncidentSamples;

namespace RollbackSentinel.Core.Tests.Incidents;

/// <summary>The evidence JSON is what the SQLite store wrote before it moved to Core, byte for byte, and reads back.</summary>
public sealed class IncidentEvidenceTests
{
    public static TheoryData<string> Decisions() => new() { "plain", "non-finite", "awkward", "no-since", "note" };

    [Theory]
    [MemberData(nameof(Decisions))]
    public void ToJson_IsWhatTheStoreWroteBefore(string which)
    {
        var decision = Sample(which);

        Assert.Equal(OldEvidenceJson.Write(decision), IncidentEvidence.Of(decision).ToJson());
    }

    [Theory]
    [MemberData(nameof(Decisions))]
    public void FromJson_ReadsBackWhatToJsonWrote(string which)
    {
        var json = IncidentEvidence.Of(Sample(which)).ToJson();

        var evidence = IncidentEvidence.FromJson(json);

        Assert.Equal(json, evidence.ToJson());
        Assert.Equal(IncidentEvidence.Of(Sample(which)), evidence);
    }

    [Fact]
    public void ToJson_Plain_HasEveryPropertyInOrder()
    {
        Assert.Equal(
            """{"verdict":"Breach","reason":"ThresholdExceeded","summary":"error ratio 0.09 (1.8/20) > max 0.05","value":0.09,"threshold":0.05,"baseline":null,"noDataCountedAsBreach":false,"decidedAt":"2026-11-20T14:30:00Z","since":"2026-11-20T14:28:00Z","queries":[{"role":"errors","query":"sum(rate(http_requests_total{app=\"checkout\",code=~\"5..\"}[1m]))","evaluatedAt":"2026-11-20T14:30:00Z","value":1.8},{"role":"total","query":"sum(rate(http_requests_total{app=\"checkout\"}[1m]))","evaluatedAt":"2026-11-20T14:30:00Z","value":20}]}""",
            IncidentEvidence.Of(Sample("plain")).ToJson());
    }

    [Fact]
    public void ToJson_WithRulesVersion_AddsItLast_AndReadsItBack()
    {
        var evidence = IncidentEvidence.Of(Sample("plain")) with { RulesVersion = "sha256:0123456789ab" };

        var json = evidence.ToJson();

        Assert.Equal(IncidentEvidence.Of(Sample("plain")).ToJson()[..^1] + ""","rulesVersion":"sha256:0123456789ab"}""", json);
        Assert.Equal("sha256:0123456789ab", IncidentEvidence.FromJson(json).RulesVersion);
        Assert.Equal(evidence, IncidentEvidence.FromJson(json));
        Assert.NotEqual(IncidentEvidence.Of(Sample("plain")), IncidentEvidence.FromJson(json));
    }

    [Theory]
    [MemberData(nameof(Decisions))]
    public void ToJson_WithoutRulesVersion_OmitsIt(string which)
    {
        var json = IncidentEvidence.Of(Sample(which)).ToJson();

        Assert.DoesNotContain("rulesVersion", json, StringComparison.Ordinal);
        Assert.Null(IncidentEvidence.FromJson(json).RulesVersion);
    }

    [Fact]
    public void Manual_HasNoMeasurement()
    {
        var evidence = IncidentEvidence.Manual("manual rollback asked by erin via api: \"why\"", T0);

        var json = evidence.ToJson();

        Assert.Equal("""{"verdict":"Manual","summary":"manual rollback asked by erin via api: \"why\"","decidedAt":"2026-11-20T14:30:00Z","since":"2026-11-20T14:30:00Z","queries":[]}""", json);
        Assert.Equal(evidence, IncidentEvidence.FromJson(json));
        Assert.False(IncidentEvidence.FromJson(json).IsMeasured);
    }

    [Fact]
    public void FromJson_NonFinite_AreNumbersAgain()
    {
        var evidence = IncidentEvidence.FromJson(IncidentEvidence.Of(Sample("non-finite")).ToJson());

        Assert.True(double.IsNaN(evidence.Value!.Value));
        Assert.Equal((double.NegativeInfinity, double.PositiveInfinity, true), (evidence.Threshold, evidence.Baseline, evidence.NoDataCountedAsBreach));
    }

    [Fact]
    public void FromJson_WrittenByHand_MissingIsEmpty_AndNotJsonIsInvalidData()
    {
        var empty = IncidentEvidence.FromJson("{}");

        Assert.Equal(("", null, "", null, null, 0), (empty.Verdict, empty.Reason, empty.Summary, empty.DecidedAt, empty.Since, empty.Queries.Count));
        Assert.Throws<InvalidDataException>(() => IncidentEvidence.FromJson("not json"));
        Assert.Throws<InvalidDataException>(() => IncidentEvidence.FromJson("[]"));
        Assert.Throws<InvalidDataException>(() => IncidentEvidence.FromJson("""{"decidedAt":"yesterday"}"""));
    }

    [Fact]
    public void ReadEvidence_ParsesTheIncidentsEvidence()
    {
        var decision = Sample("plain");
        var incident = new Incident
        {
            Policy = Policy, Trigger = Trigger, Labels = Cart, Action = TriggerAction.Rollback, Status = IncidentStatus.Open,
            OpenedAt = T0, UpdatedAt = T0, Summary = "s", EvidenceJson = IncidentEvidence.Of(decision).ToJson(),
        };

        var evidence = incident.ReadEvidence();

        Assert.Equal((T0.AddMinutes(-2), 0.09, 2), (evidence.Since!.Value, evidence.Value!.Value, evidence.Queries.Count));
        Assert.Equal(new QueryEvidence("total", """sum(rate(http_requests_total{app="checkout"}[1m]))""", "2026-11-20T14:30:00Z", 20), evidence.Queries[1]);
    }

    private static Decision Sample(string which) => which switch
    {
        "plain" => Act(T0, Cart),
        "non-finite" => Act(T0, Cart) with
        {
            Verdict = Breach(Cart, double.NaN) with { Reason = VerdictReason.NotANumber, Baseline = double.PositiveInfinity, Threshold = double.NegativeInfinity, NoDataCountedAsBreach = true },
        },
        "awkward" => Act(T0.AddMilliseconds(123), AwkwardLabels) with
        {
            Verdict = Breach(AwkwardLabels, 1e-7) with { Summary = "tab\tquote\" <html> & 'x' zürich-日本-🚀 \u0001", Baseline = 12345678901234.5 },
        },
        "no-since" => Act(T0, Cart) with { Since = null, Verdict = Breach(Cart) with { Queries = [] } },
        _ => Act(T0, Cart) with
        {
            Verdict = Breach(Cart) with { Queries = [new QueryEvidence("baseline", "up", "2026-11-20T14:30:00Z", null, "no data: the baseline was missing"), new QueryEvidence("x", "y", "z", double.NaN)] },
        },
    };

    /// <summary>The old <c>RollbackSentinel.Storage.Serialization.EvidenceJson.Write</c> (commit e031e81), verbatim: the oracle.</summary>
    private static class OldEvidenceJson
    {
        private static readonly JsonWriterOptions _writerOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

        public static string Write(Decision decision) => JsonTextWrite(w =>
        {
            var verdict = decision.Verdict;
            w.WriteStartObject();
            w.WriteString("verdict", verdict.Kind.ToString());
            w.WriteString("reason", verdict.Reason.ToString());
            w.WriteString("summary", verdict.Summary);
            WriteNumber(w, "value", verdict.Value);
            WriteNumber(w, "threshold", verdict.Threshold);
            WriteNumber(w, "baseline", verdict.Baseline);
            w.WriteBoolean("noDataCountedAsBreach", verdict.NoDataCountedAsBreach);
            w.WriteString("decidedAt", Rfc3339.Format(decision.At));
            if (decision.Since is { } since)
            {
                w.WriteString("since", Rfc3339.Format(since));
            }
            else
            {
                w.WriteNull("since");
            }

            w.WriteStartArray("queries");
            foreach (var query in verdict.Queries)
            {
                w.WriteStartObject();
                w.WriteString("role", query.Role);
                w.WriteString("query", query.Query);
                w.WriteString("evaluatedAt", query.EvaluatedAt);
                WriteNumber(w, "value", query.Value);
                if (query.Note is not null)
                {
                    w.WriteString("note", query.Note);
                }

                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteEndObject();
        });

        private static string JsonTextWrite(Action<Utf8JsonWriter> write)
        {
            var buffer = new ArrayBufferWriter<byte>(256);
            using (var writer = new Utf8JsonWriter(buffer, _writerOptions))
            {
                write(writer);
            }

            return Encoding.UTF8.GetString(buffer.WrittenSpan);
        }

        private static void WriteNumber(Utf8JsonWriter writer, string name, double? value)
        {
            switch (value)
            {
                case null:
                    writer.WriteNull(name);
                    break;
                case double v when double.IsNaN(v):
                    writer.WriteString(name, "NaN");
                    break;
                case double v when double.IsPositiveInfinity(v):
                    writer.WriteString(name, "+Inf");
                    break;
                case double v when double.IsNegativeInfinity(v):
                    writer.WriteString(name, "-Inf");
                    break;
                case double v:
                    writer.WriteNumber(name, v);
                    break;
            }
        }
    }
}
