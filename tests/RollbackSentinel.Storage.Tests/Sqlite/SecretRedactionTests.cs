using RollbackSentinel.Core.Incidents;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Secrets;
using RollbackSentinel.Storage.Tests.Support;
using static RollbackSentinel.Storage.Tests.Support.Samples;

namespace RollbackSentinel.Storage.Tests.Sqlite;

/// <summary>Whatever text reaches the store (an adapter's error echoing a key, a person's reason), known secrets are not written.</summary>
public sealed class SecretRedactionTests : IAsyncLifetime
{
    // Unique per run: the registry is process-wide.
    private readonly string _secret = "R0utingKey" + Guid.NewGuid().ToString("N");
    private readonly TempDatabase _db = new();
    private SqliteIncidentStore _store = null!;
    private IncidentService _incidents = null!;

    [Fact]
    public async Task Store_TextHoldingARegisteredSecret_IsWrittenRedactedInEveryTable()
    {
        SecretRegistry.Shared.Register(_secret);
        var opened = Assert.Single(await _incidents.CommitEvaluationAsync(Commit(T0, Act(T0, Cart)), None));
        await _incidents.MarkActionStartedAsync(opened.Action.Id, T0.AddSeconds(1), Lease, None);
        await _incidents.CompleteActionAsync(
            opened.Action.Id,
            new ActionCompletion(ActionStatus.Failed, $"webhook answered HTTP 400: {{\"error\":\"bad key {_secret}\"}}") { Before = "key=" + _secret },
            T0.AddSeconds(2),
            None);
        await _incidents.AddAcknowledgmentAsync(new Acknowledgment(opened.Incident.Id, "alice", "api", Answers.Ack, T0.AddSeconds(3)) { Reason = $"pasted {_secret} by mistake" }, None);

        var stored = string.Join(
            "\n",
            _db.Rows("SELECT outcome, before_state FROM actions").SelectMany(r => r)
                .Concat(_db.Rows("SELECT message FROM incident_events").SelectMany(r => r))
                .Concat(_db.Rows("SELECT reason FROM acknowledgments").SelectMany(r => r)));
        Assert.DoesNotContain(_secret, stored, StringComparison.Ordinal);
        Assert.Contains($"webhook answered HTTP 400: {{\"error\":\"bad key {SecretRegistry.Marker}\"}}", stored, StringComparison.Ordinal);
        Assert.Contains($"pasted {SecretRegistry.Marker} by mistake", stored, StringComparison.Ordinal);
        Assert.Contains($"key={SecretRegistry.Marker}", stored, StringComparison.Ordinal);

        var timeline = (await _store.GetIncidentAsync(opened.Incident.Id, None))!;
        Assert.Equal($"webhook answered HTTP 400: {{\"error\":\"bad key {SecretRegistry.Marker}\"}}", Assert.Single(timeline.Actions).Outcome);
    }

    [Fact]
    public async Task Store_SecretNotRegistered_IsWrittenAsGiven()
    {
        var unknown = "NotASecret" + Guid.NewGuid().ToString("N");
        var opened = Assert.Single(await _incidents.CommitEvaluationAsync(Commit(T0, Act(T0, Cart)), None));
        await _incidents.MarkActionStartedAsync(opened.Action.Id, T0.AddSeconds(1), Lease, None);
        await _incidents.CompleteActionAsync(opened.Action.Id, ActionStatus.Failed, "answered " + unknown, T0.AddSeconds(2), None);

        Assert.Equal("answered " + unknown, Assert.Single((await _store.GetIncidentAsync(opened.Incident.Id, None))!.Actions).Outcome);
    }

    [Fact]
    public async Task Store_IdentityHoldingARegisteredSecret_IsStoredAsGivenWhileFreeTextIsRedacted()
    {
        // A short API token ("test") is part of ordinary names ("latest"): a policy's name, labels and target are
        // identities, read back and matched against the loaded rules, so they must come back as they were written.
        SecretRegistry.Shared.Register(_secret);
        var policy = $"latest-{_secret}";
        var labels = LabelSet.Of(("deployment", _secret));
        var target = $"webhook/{policy}/https://deploy.example.com/{_secret}";
        var opened = await _incidents.OpenManualRollbackAsync(new ManualRollback(policy, labels, target, "alice", "api", $"pasted {_secret} by mistake", T0), None);

        var timeline = (await _store.GetIncidentAsync(opened.Incident.Id, None))!;
        Assert.Equal(policy, timeline.Incident.Policy);
        Assert.Equal(labels, timeline.Incident.Labels);
        var action = Assert.Single(timeline.Actions);
        Assert.Equal(target, action.Target);
        Assert.Equal(opened.Action.IdempotencyKey, action.IdempotencyKey);
        Assert.Equal(policy, Assert.Single(await _store.ListIncidentsAsync(null, 10, None)).Policy);

        var freeText = string.Join("\n", _db.Rows("SELECT message FROM incident_events").SelectMany(r => r).Concat(_db.Rows("SELECT summary FROM incidents").SelectMany(r => r)));
        Assert.Contains($"pasted {SecretRegistry.Marker} by mistake", freeText, StringComparison.Ordinal);
        Assert.DoesNotContain($"pasted {_secret}", freeText, StringComparison.Ordinal);
    }

    public async Task InitializeAsync()
    {
        _store = await _db.OpenStoreAsync();
        _incidents = _db.Incidents(_store);
    }

    public Task DisposeAsync() => _db.DisposeAsync();
}
