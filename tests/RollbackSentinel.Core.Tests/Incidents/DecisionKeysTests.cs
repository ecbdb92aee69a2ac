using RollbackSentinel.Core.Evaluation;
using RollbackSentinel.Core.Incidents;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Core.State;

namespace RollbackSentinel.Core.Tests.Incidents;

/// <summary>
/// The keys receivers deduplicate on, pinned as literals. The expected values were computed outside this code (Python's
/// hashlib.sha256 over the documented material <c>{len}:{policy}|{len}:{trigger}|{len}:{labels}|{yyyy-MM-ddTHH:mm:ss.fffffffZ}</c>,
/// the text the SQLite store's time format gave before Core owned the keys), so a change of the derivation fails here.
/// </summary>
public sealed class DecisionKeysTests
{
    // 12:checkout-api|16:error-rate-spike|36:{deployment="cart", region="zürich"}|2026-11-20T14:32:45.1234567Z
    private static readonly Decision WithLabels = Decision(
        "checkout-api",
        "error-rate-spike",
        LabelSet.Of(("region", "zürich"), ("deployment", "cart")),
        new DateTimeOffset(2026, 11, 20, 16, 32, 45, TimeSpan.FromHours(2)).AddTicks(1_234_567));

    // 4:shop|6:errors|2:{}|2026-01-02T03:04:05.0000000Z
    private static readonly Decision WithoutLabels = Decision("shop", "errors", LabelSet.Empty, new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero));

    [Fact]
    public void OpenKey_FixedDecision_IsTheDocumentedSha256()
    {
        Assert.Equal("8d20e3f873146f685c4ccba385b5627bdbccb56e62322036f09123f35f5ac506", DecisionKeys.OpenKey(WithLabels));
        Assert.Equal("3c86bada6d0f2baba04d2defe6b24f9b08522f6c0c45bcd99b1aa11c8b67303b", DecisionKeys.OpenKey(WithoutLabels));
    }

    [Fact]
    public void IdempotencyKey_FixedDecision_IsRsAndTheFirst16BytesOfTheHash()
    {
        Assert.Equal("rs-8d20e3f873146f685c4ccba385b5627b", DecisionKeys.IdempotencyKey(WithLabels));
        Assert.Equal("rs-3c86bada6d0f2baba04d2defe6b24f9b", DecisionKeys.IdempotencyKey(WithoutLabels));
    }

    [Fact]
    public void Keys_DependOnlyOnPolicyTriggerLabelsAndTime_NotOnTheVerdictOrOffset()
    {
        var sameInstantOtherOffset = WithLabels with { At = WithLabels.At.ToOffset(TimeSpan.FromHours(-5)), Message = "another message", DryRun = true };
        var oneTickLater = WithLabels with { At = WithLabels.At.AddTicks(1) };

        Assert.Equal(DecisionKeys.OpenKey(WithLabels), DecisionKeys.OpenKey(sameInstantOtherOffset));
        Assert.NotEqual(DecisionKeys.OpenKey(WithLabels), DecisionKeys.OpenKey(oneTickLater));
        Assert.Equal("2026-11-20T14:32:45.1234567Z", DecisionKeys.FormatTime(WithLabels.At));
    }

    private static Decision Decision(string policy, string trigger, LabelSet labels, DateTimeOffset at) => new()
    {
        Policy = policy,
        Trigger = trigger,
        Labels = labels,
        At = at,
        Kind = DecisionKind.Act,
        Action = TriggerAction.Rollback,
        Verdict = IncidentSamples.Breach(labels),
        Since = at - TimeSpan.FromMinutes(2),
        Message = "roll back",
    };
}
