using System.Text.Json;
using RollbackSentinel.Core.Evaluation;
using RollbackSentinel.Core.Incidents;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.State;
using RollbackSentinel.Storage.Serialization;
using RollbackSentinel.Storage.Tests.Serialization;
using RollbackSentinel.Storage.Tests.Support;
using static RollbackSentinel.Storage.Tests.Support.Samples;
using TriggerAction = RollbackSentinel.Core.Policies.TriggerAction;

namespace RollbackSentinel.Storage.Tests.Sqlite;

public sealed class CommitEvaluationTests : IAsyncLifetime
{
    private readonly TempDatabase _db = new();
    private SqliteIncidentStore _store = null!;
    private IncidentService _incidents = null!;

    [Fact]
    public async Task Commit_Act_OpensIncidentWithPendingActionAndEvidence()
    {
        var decision = Act(T0, Cart);

        var opened = Assert.Single(await _incidents.CommitEvaluationAsync(Commit(T0, decision), None));

        var incident = opened.Incident;
        Assert.True(incident.Id > 0);
        Assert.Equal(Policy, incident.Policy);
        Assert.Equal(Trigger, incident.Trigger);
        Assert.Equal(Cart, incident.Labels);
        Assert.Equal(TriggerAction.Rollback, incident.Action);
        Assert.False(incident.DryRun);
        Assert.Equal(IncidentStatus.Open, incident.Status);
        Assert.Equal(T0, incident.OpenedAt);
        Assert.Equal(T0, incident.UpdatedAt);
        Assert.Null(incident.ResolvedAt);
        Assert.Equal("error ratio 0.09 (1.8/20) > max 0.05", incident.Summary);

        using var evidence = JsonDocument.Parse(incident.EvidenceJson);
        var e = evidence.RootElement;
        Assert.Equal("Breach", e.GetProperty("verdict").GetString());
        Assert.Equal("ThresholdExceeded", e.GetProperty("reason").GetString());
        Assert.Equal(0.09, e.GetProperty("value").GetDouble());
        Assert.Equal(0.05, e.GetProperty("threshold").GetDouble());
        Assert.Equal(JsonValueKind.Null, e.GetProperty("baseline").ValueKind);
        Assert.Equal(incident.Summary, e.GetProperty("summary").GetString());
        Assert.Equal("2026-11-20T14:28:00Z", e.GetProperty("since").GetString());
        var queries = e.GetProperty("queries").EnumerateArray().ToList();
        Assert.Equal(["errors", "total"], queries.Select(q => q.GetProperty("role").GetString()));
        Assert.Equal("""sum(rate(http_requests_total{app="checkout",code=~"5.."}[1m]))""", queries[0].GetProperty("query").GetString());
        Assert.Equal(1.8, queries[0].GetProperty("value").GetDouble());

        var action = opened.Action;
        Assert.True(action.Id > 0);
        Assert.Equal(incident.Id, action.IncidentId);
        Assert.Equal("rollback", action.Kind);
        Assert.Equal(Target, action.Target);
        Assert.Equal(ActionStatus.Pending, action.Status);
        Assert.Equal(T0, action.CreatedAt);
        Assert.Null(action.StartedAt);
        Assert.Null(action.CompletedAt);
        Assert.Null(action.Outcome);
        Assert.Matches("^rs-[0-9a-f]{32}$", action.IdempotencyKey);

        var timeline = await _store.GetIncidentAsync(incident.Id, None);
        Assert.NotNull(timeline);
        Assert.Equal(incident, timeline.Incident);
        Assert.Equal([action], timeline.Actions);
        Assert.Equal([new IncidentEvent(incident.Id, T0, IncidentEventKinds.Opened, decision.Message)], timeline.Events);
        Assert.Empty(timeline.Acknowledgments);
    }

    [Fact]
    public async Task Commit_StateAndVerdicts_AreStored()
    {
        var state = PolicyStateJsonTests.RichState();
        var commit = Commit(T0, state, Act(T0, Cart)) with
        {
            Verdicts =
            [
                Row("error-rate-spike", Breach(Cart)),
                Row("error-rate-spike", Pass(LabelSet.Of(("deployment", "web")))),
                Row("p95", LowTraffic(AwkwardLabels)),
            ],
        };

        await _incidents.CommitEvaluationAsync(commit, None);

        StateAssert.Same(state, (await _store.LoadStateAsync(Policy, None))!.State);
        Assert.Null(await _store.LoadStateAsync("another-policy", None));
        Assert.Equal(
            [
                [Policy, "2026-11-20T14:30:00.0000000Z", "error-rate-spike", """{"deployment":"cart"}""", "Breach", "ThresholdExceeded", "0.09", "0.05", "NULL", "error ratio 0.09 (1.8/20) > max 0.05"],
                [Policy, "2026-11-20T14:30:00.0000000Z", "error-rate-spike", """{"deployment":"web"}""", "Pass", "WithinThreshold", "0.01", "0.05", "NULL", "error ratio 0.01 (0.2/20) <= max 0.05"],
                [Policy, "2026-11-20T14:30:00.0000000Z", "p95", LabelsJson.Write(AwkwardLabels), "Inconclusive", "LowTraffic", "NULL", "0.05", "NULL", "low traffic: total 0.3 < minTotal 1"],
            ],
            _db.Rows("SELECT policy, at, trigger, labels, kind, reason, value, threshold, baseline, summary FROM evaluations ORDER BY id"));
    }

    [Fact]
    public async Task Commit_NonFiniteValues_EvidenceSpellsThemAsPrometheusDoes()
    {
        // noData: breach turns a NaN result into a breach; JSON has no NaN, and SQLite stores NaN as NULL.
        var decision = Act(T0, Cart) with
        {
            Verdict = Breach(Cart, double.NaN) with
            {
                Reason = VerdictReason.NotANumber,
                Baseline = double.PositiveInfinity,
                Threshold = double.NegativeInfinity,
                NoDataCountedAsBreach = true,
            },
        };

        var opened = Assert.Single(await _incidents.CommitEvaluationAsync(Commit(T0, decision), None));

        using var evidence = JsonDocument.Parse(opened.Incident.EvidenceJson);
        Assert.Equal("NaN", evidence.RootElement.GetProperty("value").GetString());
        Assert.Equal("+Inf", evidence.RootElement.GetProperty("baseline").GetString());
        Assert.Equal("-Inf", evidence.RootElement.GetProperty("threshold").GetString());
        Assert.True(evidence.RootElement.GetProperty("noDataCountedAsBreach").GetBoolean());
        Assert.Equal([["NULL", "-Infinity", "Infinity", "NotANumber"]], _db.Rows("SELECT value, threshold, baseline, reason FROM evaluations"));
    }

    [Fact]
    public async Task Commit_LaterState_ReplacesEarlierOne()
    {
        var pending = new PolicyState
        {
            Series = PolicyState.Empty.Series.Add(new SeriesKey(Trigger, Cart), new SeriesState { Phase = TriggerPhase.Pending, BreachingSince = T0 }),
        };
        await _incidents.CommitEvaluationAsync(Commit(T0, pending), None);
        await _incidents.CommitEvaluationAsync(Commit(T0.AddSeconds(15), PolicyState.Empty), None);

        Assert.Empty((await _store.LoadStateAsync(Policy, None))!.State.Series);
        Assert.Equal([["2026-11-20T14:30:15.0000000Z"]], _db.Rows("SELECT updated_at FROM policy_state"));
    }

    [Fact]
    public async Task Commit_SameDecisionTwice_OneIncidentOneActionSameAnswer()
    {
        var commit = Commit(T0, Act(T0, Cart));

        var first = Assert.Single(await _incidents.CommitEvaluationAsync(commit, None));
        var second = Assert.Single(await _incidents.CommitEvaluationAsync(commit, None));

        Assert.Equal(first, second);
        Assert.Equal(first.Incident, Assert.Single(await _store.ListIncidentsAsync(null, 10, None)));
        Assert.Equal(1L, _db.Scalar<long>("SELECT COUNT(*) FROM actions"));
        Assert.Equal(1L, _db.Scalar<long>("SELECT COUNT(*) FROM evaluations"));
        Assert.Single((await _store.GetIncidentAsync(first.Incident.Id, None))!.Events);
    }

    [Fact]
    public async Task Commit_SameSeriesAtAnotherTime_IsAnotherDecisionWithAnotherKey()
    {
        var first = Assert.Single(await _incidents.CommitEvaluationAsync(Commit(T0, Act(T0, Cart)), None));
        var later = Assert.Single(await _incidents.CommitEvaluationAsync(Commit(T0.AddTicks(1), Act(T0.AddTicks(1), Cart)), None));
        var otherSeries = Assert.Single(await _incidents.CommitEvaluationAsync(Commit(T0, Act(T0, LabelSet.Of(("deployment", "web")))), None));

        Assert.Equal(3, new[] { first.Incident.Id, later.Incident.Id, otherSeries.Incident.Id }.Distinct().Count());
        Assert.Equal(3, new[] { first.Action.IdempotencyKey, later.Action.IdempotencyKey, otherSeries.Action.IdempotencyKey }.Distinct().Count());
    }

    [Fact]
    public async Task Commit_DryRun_IncidentDryRunAndActionSkippedWithWhatItWouldHaveDone()
    {
        var decision = Act(T0, Cart, dryRun: true);

        var opened = Assert.Single(await _incidents.CommitEvaluationAsync(Commit(T0, decision), None));

        Assert.True(opened.Incident.DryRun);
        Assert.Equal(IncidentStatus.DryRun, opened.Incident.Status);
        Assert.Equal(ActionStatus.Skipped, opened.Action.Status);
        Assert.Equal("dry run: would have rolled back kubectl/checkout/shop", opened.Action.Outcome);
        Assert.Equal(T0, opened.Action.CompletedAt);
        Assert.Null(opened.Action.StartedAt);
        Assert.Equal(
            [(IncidentEventKinds.Opened, decision.Message), (IncidentEventKinds.ActionSkipped, "dry run: would have rolled back kubectl/checkout/shop")],
            (await _store.GetIncidentAsync(opened.Incident.Id, None))!.Events.Select(e => (e.Kind, e.Message)));

        Assert.False(await _incidents.MarkActionStartedAsync(opened.Action.Id, T0.AddSeconds(1), Lease, None));
        var (interrupted, pending) = await _incidents.RecoverAsync(T0.AddSeconds(2), None);
        Assert.Empty(interrupted);
        Assert.Empty(pending);
    }

    [Theory]
    [InlineData(TriggerAction.Page, "page", "dry run: would have paged about kubectl/checkout/shop")]
    [InlineData(TriggerAction.Notify, "notify", "dry run: would have notified about kubectl/checkout/shop")]
    public async Task Commit_DryRunPageOrNotify_KindLowerCaseAndOutcomeSaysWhat(TriggerAction action, string kind, string outcome)
    {
        var opened = Assert.Single(await _incidents.CommitEvaluationAsync(Commit(T0, Act(T0, action: action, dryRun: true)), None));

        Assert.Equal(action, opened.Incident.Action);
        Assert.Equal(kind, opened.Action.Kind);
        Assert.Equal(outcome, opened.Action.Outcome);
    }

    [Fact]
    public async Task Commit_TargetIsDescribedPerDecision()
    {
        var commit = Commit(T0, Act(T0, Cart), Act(T0, LabelSet.Of(("deployment", "web")))) with
        {
            DescribeTarget = d => $"kubectl/{d.Labels["deployment"]}/shop",
        };

        var opened = await _incidents.CommitEvaluationAsync(commit, None);

        Assert.Equal(["kubectl/cart/shop", "kubectl/web/shop"], opened.Select(o => o.Action.Target));
    }

    [Fact]
    public async Task Commit_AwkwardLabels_ComeBackExactly()
    {
        var opened = Assert.Single(await _incidents.CommitEvaluationAsync(Commit(T0, Act(T0, AwkwardLabels)), None));

        var stored = Assert.Single(await _store.ListIncidentsAsync(null, 10, None));
        Assert.Equal(AwkwardLabels.ToArray(), stored.Labels.ToArray());
        Assert.Equal(opened.Incident, stored);
        Assert.Equal([[AwkwardLabels.ToString()]], _db.Rows("SELECT labels_key FROM incidents"));
    }

    [Fact]
    public async Task Commit_Resolved_ResolvesTheOpenIncidentAndSkipsItsPendingAction()
    {
        var opened = Assert.Single(await _incidents.CommitEvaluationAsync(Commit(T0, Act(T0, Cart)), None));
        var resolvedAt = T0.AddMinutes(5);
        var resolved = Resolved(resolvedAt, Cart);

        Assert.Empty(await _incidents.CommitEvaluationAsync(Commit(resolvedAt, resolved), None));

        var timeline = (await _store.GetIncidentAsync(opened.Incident.Id, None))!;
        Assert.Equal(IncidentStatus.Resolved, timeline.Incident.Status);
        Assert.Equal(resolvedAt, timeline.Incident.ResolvedAt);
        Assert.Equal(resolvedAt, timeline.Incident.UpdatedAt);
        var action = Assert.Single(timeline.Actions);
        Assert.Equal(ActionStatus.Skipped, action.Status);
        Assert.Equal("not run: the trigger passed before the action started", action.Outcome);
        Assert.Equal(
            [IncidentEventKinds.Opened, IncidentEventKinds.ActionSkipped, IncidentEventKinds.Resolved],
            timeline.Events.Select(e => e.Kind));
        Assert.Equal(resolved.Message, timeline.Events[^1].Message);

        // Nothing left to run or to resume after a restart.
        Assert.False(await _incidents.MarkActionStartedAsync(action.Id, resolvedAt.AddSeconds(1), Lease, None));
        Assert.Empty((await _incidents.RecoverAsync(resolvedAt.AddSeconds(2), None)).Pending);
    }

    [Fact]
    public async Task Commit_ResolvedAfterTheActionSucceeded_ResolvesAndKeepsTheOutcome()
    {
        var opened = Assert.Single(await _incidents.CommitEvaluationAsync(Commit(T0, Act(T0, Cart)), None));
        await _incidents.MarkActionStartedAsync(opened.Action.Id, T0.AddSeconds(1), Lease, None);
        await _incidents.CompleteActionAsync(opened.Action.Id, ActionStatus.Succeeded, "rolled back to revision 41", T0.AddSeconds(30), None);

        await _incidents.CommitEvaluationAsync(Commit(T0.AddMinutes(3), Resolved(T0.AddMinutes(3), Cart)), None);

        var timeline = (await _store.GetIncidentAsync(opened.Incident.Id, None))!;
        Assert.Equal(IncidentStatus.Resolved, timeline.Incident.Status);
        Assert.Equal(T0.AddMinutes(3), timeline.Incident.ResolvedAt);
        Assert.Equal(ActionStatus.Succeeded, timeline.Actions[0].Status);
        Assert.Equal("rolled back to revision 41", timeline.Actions[0].Outcome);
    }

    [Fact]
    public async Task Commit_ResolvedForAnotherSeriesOrTrigger_LeavesTheIncidentOpen()
    {
        var opened = Assert.Single(await _incidents.CommitEvaluationAsync(Commit(T0, Act(T0, Cart)), None));

        await _incidents.CommitEvaluationAsync(
            Commit(T0.AddMinutes(1), Resolved(T0.AddMinutes(1), LabelSet.Of(("deployment", "web"))), Resolved(T0.AddMinutes(1), Cart, trigger: "p95")),
            None);

        var incident = (await _store.GetIncidentAsync(opened.Incident.Id, None))!;
        Assert.Equal(IncidentStatus.Open, incident.Incident.Status);
        Assert.Equal(ActionStatus.Pending, incident.Actions[0].Status);
    }

    [Fact]
    public async Task Commit_ResolvedWithNothingOpen_OnlyHistory()
    {
        Assert.Empty(await _incidents.CommitEvaluationAsync(Commit(T0, Resolved(T0, Cart)), None));

        Assert.Empty(await _store.ListIncidentsAsync(null, 10, None));
        Assert.Equal(1L, _db.Scalar<long>("SELECT COUNT(*) FROM evaluations"));
    }

    [Fact]
    public async Task Commit_ResolvedWhileTheActionRuns_WaitsForTheOutcomeThenResolves()
    {
        var opened = Assert.Single(await _incidents.CommitEvaluationAsync(Commit(T0, Act(T0, Cart)), None));
        await _incidents.MarkActionStartedAsync(opened.Action.Id, T0.AddSeconds(1), Lease, None);

        await _incidents.CommitEvaluationAsync(Commit(T0.AddSeconds(45), Resolved(T0.AddSeconds(45), Cart)), None);

        var during = (await _store.GetIncidentAsync(opened.Incident.Id, None))!;
        Assert.Equal(IncidentStatus.Acting, during.Incident.Status);
        Assert.Null(during.Incident.ResolvedAt);
        Assert.Equal(IncidentEventKinds.ResolveDeferred, during.Events[^1].Kind);

        await _incidents.CompleteActionAsync(opened.Action.Id, ActionStatus.Succeeded, "rolled back to revision 41", T0.AddMinutes(2), None);

        var after = (await _store.GetIncidentAsync(opened.Incident.Id, None))!;
        Assert.Equal(IncidentStatus.Resolved, after.Incident.Status);
        Assert.Equal(T0.AddSeconds(45), after.Incident.ResolvedAt);
        Assert.Equal(T0.AddMinutes(2), after.Incident.UpdatedAt);
        Assert.Equal(ActionStatus.Succeeded, after.Actions[0].Status);
        Assert.Equal(
            [
                (IncidentEventKinds.Opened, T0),
                (IncidentEventKinds.ActionStarted, T0.AddSeconds(1)),
                (IncidentEventKinds.ResolveDeferred, T0.AddSeconds(45)),
                (IncidentEventKinds.ActionSucceeded, T0.AddMinutes(2)),
                (IncidentEventKinds.Resolved, T0.AddMinutes(2)),
            ],
            after.Events.Select(e => (e.Kind, e.At)));
    }

    [Fact]
    public async Task Commit_CooldownAndInconclusiveNotices_JoinTheOpenIncidentOnce()
    {
        var opened = Assert.Single(await _incidents.CommitEvaluationAsync(Commit(T0, Act(T0, Cart)), None));
        var suppressed = Notice(DecisionKind.SuppressedByCooldown, T0.AddMinutes(1), Cart);
        var inconclusive = Notice(DecisionKind.InconclusiveRun, T0.AddMinutes(2), Cart);

        await _incidents.CommitEvaluationAsync(Commit(T0.AddMinutes(1), suppressed), None);
        await _incidents.CommitEvaluationAsync(Commit(T0.AddMinutes(2), inconclusive), None);
        await _incidents.CommitEvaluationAsync(Commit(T0.AddMinutes(2), inconclusive), None);

        var timeline = (await _store.GetIncidentAsync(opened.Incident.Id, None))!;
        Assert.Equal(
            [
                new IncidentEvent(opened.Incident.Id, T0, IncidentEventKinds.Opened, Act(T0, Cart).Message),
                new IncidentEvent(opened.Incident.Id, T0.AddMinutes(1), IncidentEventKinds.SuppressedByCooldown, suppressed.Message),
                new IncidentEvent(opened.Incident.Id, T0.AddMinutes(2), IncidentEventKinds.InconclusiveRun, inconclusive.Message),
            ],
            timeline.Events);
        Assert.Equal(IncidentStatus.Open, timeline.Incident.Status);
    }

    [Fact]
    public async Task Commit_NoticesWithoutAnOpenIncident_OnlyHistory()
    {
        await _incidents.CommitEvaluationAsync(
            Commit(T0, Notice(DecisionKind.SuppressedByCooldown, T0, Cart), Notice(DecisionKind.InconclusiveRun, T0, LabelSet.Of(("deployment", "web")))),
            None);

        Assert.Empty(await _store.ListIncidentsAsync(null, 10, None));
        Assert.Equal(0L, _db.Scalar<long>("SELECT COUNT(*) FROM incident_events"));
        Assert.Equal(2L, _db.Scalar<long>("SELECT COUNT(*) FROM evaluations"));
    }

    [Fact]
    public async Task Commit_FailingHalfWay_WritesNothing()
    {
        var broken = Act(T0, LabelSet.Of(("deployment", "web"))) with { Kind = (DecisionKind)42 };
        var newState = PolicyStateJsonTests.RichState();

        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => _incidents.CommitEvaluationAsync(Commit(T0, newState, Act(T0, Cart), broken), None));

        Assert.Null(await _store.LoadStateAsync(Policy, None));
        Assert.Empty(await _store.ListIncidentsAsync(null, 10, None));
        Assert.Equal(0L, _db.Scalar<long>("SELECT COUNT(*) FROM evaluations"));
        Assert.Equal(0L, _db.Scalar<long>("SELECT COUNT(*) FROM actions"));
    }

    [Fact]
    public async Task Commit_DecisionOfAnotherPolicy_IsRefused()
    {
        var commit = Commit(T0, Act(T0, Cart)) with { Policy = "other" };

        var error = await Assert.ThrowsAsync<ArgumentException>(() => _incidents.CommitEvaluationAsync(commit, None));

        Assert.Contains("'checkout-api'", error.Message, StringComparison.Ordinal);
        Assert.Null(await _store.LoadStateAsync("other", None));
    }

    public async Task InitializeAsync()
    {
        _store = await _db.OpenStoreAsync();
        _incidents = _db.Incidents(_store);
    }

    public Task DisposeAsync() => _db.DisposeAsync();
}
