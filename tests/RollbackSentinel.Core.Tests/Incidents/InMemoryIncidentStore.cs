using RollbackSentinel.Core.Changes;
using RollbackSentinel.Core.Incidents;
using RollbackSentinel.Core.State;

namespace RollbackSentinel.Core.Tests.Incidents;

/// <summary>
/// The <see cref="IIncidentStore"/> contract in memory, for service tests without a database: revisions and
/// <c>From</c> checks (a <see cref="StoreConflictException"/>, nothing written), policy state versions, open-key
/// idempotency, atomic batches (applied to a copy, kept only if all of it applies), leases.
/// </summary>
internal sealed class InMemoryIncidentStore : IIncidentStore
{
    private readonly object _gate = new();
    private Data _data = new();

    /// <summary>Runs before each <see cref="ApplyAsync"/> (with the 1-based call number): a test's other writer.</summary>
    public Action<int, StoreBatch>? BeforeApply { get; set; }

    /// <summary>How many batches were offered (applied or refused).</summary>
    public int ApplyCalls { get; private set; }

    /// <summary>How many batches were refused with a conflict.</summary>
    public int Conflicts { get; private set; }

    public IReadOnlyList<(string Policy, DateTimeOffset At, EvaluationRow Row)> Verdicts
    {
        get
        {
            lock (_gate)
            {
                return [.. _data.Verdicts];
            }
        }
    }

    /// <summary>Another writer changes an incident (its revision moves on), as SQL by hand would.</summary>
    public void Mutate(long incidentId, Func<Incident, Incident> change)
    {
        lock (_gate)
        {
            var stored = _data.Incidents[incidentId];
            stored.Incident = change(stored.Incident);
            stored.Revision++;
        }
    }

    /// <summary>Another writer commits the policy's state (its version moves on).</summary>
    public void BumpState(string policy)
    {
        lock (_gate)
        {
            _data.States[policy] = _data.States.TryGetValue(policy, out var s) ? s with { Version = s.Version + 1 } : new StoredPolicyState(PolicyState.Empty, 1);
        }
    }

    public bool ExclusiveToOneProcess { get; set; }

    public Task InitializeAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task<long> LoadStateVersionAsync(string policy, CancellationToken cancellationToken) =>
        Read(d => d.States.TryGetValue(policy, out var s) ? s.Version : 0L);

    public Task<StoredPolicyState?> LoadStateAsync(string policy, CancellationToken cancellationToken) =>
        Read(d => d.States.TryGetValue(policy, out var s) ? s : null);

    public Task<(long Version, StoredPolicyState? State)> LoadStateUnlessAtAsync(string policy, long? knownVersion, CancellationToken cancellationToken) =>
        Read(d => d.States.TryGetValue(policy, out var s) ? (s.Version, s.Version == knownVersion ? null : s) : (0L, (StoredPolicyState?)null));

    public Task<IncidentRecord?> LoadIncidentAsync(long id, CancellationToken cancellationToken) =>
        Read(d => d.Incidents.TryGetValue(id, out var s) ? s.Record() : null);

    public Task<IncidentRecord?> LoadIncidentOfActionAsync(long actionId, CancellationToken cancellationToken) =>
        Read(d => d.Incidents.Values.FirstOrDefault(s => s.Actions.Any(a => a.Id == actionId))?.Record());

    public Task<IReadOnlyList<IncidentRecord>> LoadActiveAsync(string policy, DateTimeOffset deniedSince, CancellationToken cancellationToken) =>
        Read<IReadOnlyList<IncidentRecord>>(d => Newest(d.Incidents.Values
            .Where(s => s.Incident.Policy == policy
                && (s.Incident.IsOpen || (s.Incident.Status == IncidentStatus.Denied && s.Incident.ResolvedAt >= deniedSince))))
            .Select(s => s.Record()).ToList());

    public Task<IReadOnlyList<IncidentRecord>> ApplyAsync(StoreBatch batch, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(batch);
        lock (_gate)
        {
            ApplyCalls++;
            BeforeApply?.Invoke(ApplyCalls, batch);
            var copy = _data.Copy();
            try
            {
                var result = Apply(copy, batch);
                _data = copy;
                return Task.FromResult(result);
            }
            catch (StoreConflictException)
            {
                Conflicts++;
                throw;
            }
        }
    }

    public Task<IReadOnlyList<(ActionRecord Action, ActionLease? Lease)>> ListStartedActionsAsync(CancellationToken cancellationToken) =>
        Read<IReadOnlyList<(ActionRecord, ActionLease?)>>(d => d.Incidents.Values
            .SelectMany(s => s.Actions.Where(a => a.Status == ActionStatus.Started).Select(a => (a, s.Leases.GetValueOrDefault(a.Id))))
            .OrderBy(x => x.a.StartedAt).ThenBy(x => x.a.Id)
            .Select(x => (x.a, x.Item2)).ToList());

    public Task<IReadOnlyList<ActionRecord>> ListPendingActionsAsync(CancellationToken cancellationToken) =>
        Read<IReadOnlyList<ActionRecord>>(d => d.Incidents.Values.SelectMany(s => s.Actions).Where(a => a.Status == ActionStatus.Pending).OrderBy(a => a.CreatedAt).ThenBy(a => a.Id).ToList());

    public Task<IReadOnlyList<Incident>> ListIncidentsAsync(IncidentStatus? status, int limit, CancellationToken cancellationToken) =>
        Read<IReadOnlyList<Incident>>(d => Newest(d.Incidents.Values.Where(s => status is null || s.Incident.Status == status)).Take(limit).Select(s => s.Incident).ToList());

    public Task<IncidentTimeline?> GetIncidentAsync(long id, CancellationToken cancellationToken) =>
        Read(d => d.Incidents.TryGetValue(id, out var s)
            ? new IncidentTimeline(s.Incident, [.. s.Events.OrderBy(e => e.At)], [.. s.Actions], [.. s.Answers.OrderBy(a => a.At)])
            : null);

    public Task<IReadOnlyList<Incident>> ListOpenIncidentsAsync(string policy, CancellationToken cancellationToken) =>
        Read<IReadOnlyList<Incident>>(d => Newest(d.Incidents.Values.Where(s => s.Incident.Policy == policy && s.Incident.IsOpen)).Select(s => s.Incident).ToList());

    public Task<IReadOnlyList<Incident>> ListOverdueAsync(DateTimeOffset at, CancellationToken cancellationToken) =>
        Read<IReadOnlyList<Incident>>(d => d.Incidents.Values
            .Where(s => s.Incident is { Status: IncidentStatus.AwaitingConfirmation, AnswerDeadline: { } deadline } && deadline <= at)
            .OrderBy(s => s.Incident.AnswerDeadline).ThenBy(s => s.Incident.Id).Select(s => s.Incident).ToList());

    public Task<IReadOnlyList<Incident>> ClaimToNotifyAsync(bool includeOpen, int limit, ActionLease lease, DateTimeOffset at, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            var claimed = _data.Incidents.Values
                .Where(s => (s.Incident.Version > s.NotifiedVersion || (includeOpen && s.Incident.IsOpen))
                    && (s.NotifyLease is null || s.NotifyLease.Owner == lease.Owner || s.NotifyLease.Until <= at))
                .OrderByDescending(s => s.Incident.UpdatedAt).ThenByDescending(s => s.Incident.Id).Take(limit).ToList();
            foreach (var s in claimed)
            {
                s.NotifyLease = lease;
            }

            return Task.FromResult<IReadOnlyList<Incident>>(claimed.Select(s => s.Incident).ToList());
        }
    }

    public Task MarkNotifiedAsync(long incidentId, long version, string owner, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            var s = _data.Incidents[incidentId];
            s.NotifiedVersion = Math.Max(s.NotifiedVersion, version);
            if (s.NotifyLease?.Owner == owner)
            {
                s.NotifyLease = null;
            }

            _data.DeliveryClaims.Clear();
            return Task.CompletedTask;
        }
    }

    public Task ReleaseNotificationLeasesAsync(string owner, IReadOnlyCollection<long> incidentIds, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            foreach (var s in _data.Incidents.Values.Where(s => incidentIds.Contains(s.Incident.Id) && s.NotifyLease?.Owner == owner))
            {
                s.NotifyLease = null;
            }

            _data.DeliveryClaims.Clear();
            return Task.CompletedTask;
        }
    }

    public Task ReleaseAllNotificationLeasesAsync(CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            foreach (var s in _data.Incidents.Values)
            {
                s.NotifyLease = null;
            }

            _data.DeliveryClaims.Clear();
            return Task.CompletedTask;
        }
    }

    public Task<bool> RenewActionLeaseAsync(long actionId, ActionLease lease, DateTimeOffset at, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            var s = _data.Incidents.Values.FirstOrDefault(s => s.Actions.Any(a => a.Id == actionId));
            if (s is null || s.Actions.First(a => a.Id == actionId).Status != ActionStatus.Started
                || !s.Leases.TryGetValue(actionId, out var held) || held.Owner != lease.Owner || held.Until <= at)
            {
                return Task.FromResult(false);
            }

            s.Leases[actionId] = lease;
            return Task.FromResult(true);
        }
    }

    public Task<bool> ClaimDeliveryAsync(long incidentId, string channel, ActionLease lease, DateTimeOffset at, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (_data.DeliveryClaims.TryGetValue((incidentId, channel), out var held) && held.Owner != lease.Owner && held.Until > at)
            {
                return Task.FromResult(false);
            }

            _data.DeliveryClaims[(incidentId, channel)] = lease;
            return Task.FromResult(true);
        }
    }

    public Task<bool> RenewDeliveryClaimAsync(long incidentId, string channel, ActionLease lease, DateTimeOffset at, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (!_data.DeliveryClaims.TryGetValue((incidentId, channel), out var held) || held.Owner != lease.Owner || held.Until <= at)
            {
                return Task.FromResult(false);
            }

            _data.DeliveryClaims[(incidentId, channel)] = lease;
            return Task.FromResult(true);
        }
    }

    public Task<ActionRecord?> FindRollbackSinceAsync(string target, DateTimeOffset since, long excludingActionId, CancellationToken cancellationToken) =>
        Read(d => d.Incidents.Values.SelectMany(s => s.Actions)
            .Where(a => a.Kind == "rollback" && a.Target == target && a.Id != excludingActionId
                && a.Status is ActionStatus.Started or ActionStatus.Succeeded or ActionStatus.Interrupted && a.StartedAt >= since)
            .OrderByDescending(a => a.StartedAt).FirstOrDefault());

    public Task<IReadOnlyList<NotificationRecord>> GetNotificationsAsync(long incidentId, CancellationToken cancellationToken) =>
        Read<IReadOnlyList<NotificationRecord>>(d => d.Notifications.Where(n => n.IncidentId == incidentId).OrderBy(n => n.Channel, StringComparer.Ordinal).ToList());

    public Task SaveNotificationAsync(NotificationRecord record, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (!_data.Notifications.Any(n => n.IncidentId == record.IncidentId && n.Channel == record.Channel && n.At > record.At))
            {
                _data.Notifications.RemoveAll(n => n.IncidentId == record.IncidentId && n.Channel == record.Channel);
                _data.Notifications.Add(record);
            }

            _data.DeliveryClaims.Remove((record.IncidentId, record.Channel));
            return Task.CompletedTask;
        }
    }

    public Task<int> PruneEvaluationsAsync(DateTimeOffset olderThan, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return Task.FromResult(_data.Verdicts.RemoveAll(v => v.At < olderThan));
        }
    }

    private static IReadOnlyList<IncidentRecord> Apply(Data d, StoreBatch batch)
    {
        if (batch.State is { } state)
        {
            var current = d.States.TryGetValue(state.Policy, out var s) ? s.Version : 0;
            if (state.ExpectedVersion is { } expected && expected != current)
            {
                throw new PolicyStateConflictException($"policy {state.Policy} is at version {current}, not {expected}");
            }

            d.States[state.Policy] = new StoredPolicyState(state.State, current + 1);
        }

        foreach (var row in batch.Verdicts)
        {
            var policy = batch.Policy ?? batch.State?.Policy ?? throw new ArgumentException("verdicts without a policy");
            var at = batch.At ?? batch.State?.At ?? throw new ArgumentException("verdicts without a time");
            if (!d.Verdicts.Any(v => v.Policy == policy && v.At == at && v.Row.Trigger == row.Trigger && v.Row.Labels.ToString() == row.Labels.ToString()))
            {
                d.Verdicts.Add((policy, at, row));
            }
        }

        var records = new List<IncidentRecord>();
        foreach (var update in batch.Updates)
        {
            records.Add(Apply(d, update));
        }

        return records;
    }

    private static IncidentRecord Apply(Data d, IncidentUpdate update)
    {
        Stored stored;
        var changes = update.Changes.AsEnumerable();
        if (update.IncidentId == 0)
        {
            if (update.Changes is not [OpenIncident open, ..])
            {
                throw new ArgumentException("a new incident starts with OpenIncident");
            }

            if (d.Incidents.Values.FirstOrDefault(s => s.OpenKey == open.OpenKey) is { } existing)
            {
                return existing.Record(); // a retried commit: what was recorded then, nothing changed
            }

            var id = ++d.NextIncidentId;
            stored = new Stored
            {
                Incident = open.Incident with { Id = id, Version = 1, BlamedChange = open.BlamedChangeId is null ? null : open.Incident.BlamedChange },
                OpenKey = open.OpenKey,
            };
            stored.Actions.Add(open.Action with { Id = ++d.NextActionId, IncidentId = id, IdempotencyKey = open.Action.IdempotencyKey.Replace(OpenIncident.IncidentIdToken, id.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal) });
            d.Incidents[id] = stored;
            changes = changes.Skip(1);
        }
        else
        {
            if (!d.Incidents.TryGetValue(update.IncidentId, out stored!))
            {
                throw new StoreConflictException($"incident {update.IncidentId} is gone");
            }

            if (stored.Revision != update.ExpectedRevision)
            {
                throw new StoreConflictException($"incident {update.IncidentId} is at revision {stored.Revision}, not {update.ExpectedRevision}");
            }
        }

        foreach (var change in changes)
        {
            var incident = stored.Incident;
            switch (change)
            {
                case MoveIncident m:
                    if (incident.Status != m.From)
                    {
                        throw new StoreConflictException($"incident {incident.Id} is {incident.Status}, not {m.From}");
                    }

                    stored.Incident = incident with { Status = m.To, UpdatedAt = m.At, ResolvedAt = m.ResolvedAt ?? incident.ResolvedAt, Version = incident.Version + 1 };
                    break;
                case SetAnswerDeadline s:
                    stored.Incident = incident with { AnswerDeadline = s.Deadline, TimedOutAt = s.TimedOutAt, UpdatedAt = s.At, Version = incident.Version + 1 };
                    break;
                case RequestResolution r:
                    stored.ResolveRequestedAt = r.At;
                    stored.Incident = incident with { UpdatedAt = r.At };
                    break;
                case MarkChanged:
                    stored.Incident = incident with { Version = incident.Version + 1 };
                    break;
                case MoveAction a:
                    var index = stored.Actions.FindIndex(x => x.Id == a.ActionId);
                    if (index < 0 || stored.Actions[index].Status != a.From)
                    {
                        throw new StoreConflictException($"action {a.ActionId} is not {a.From}");
                    }

                    var action = stored.Actions[index];
                    stored.Actions[index] = action with
                    {
                        Status = a.To,
                        CreatedAt = a.CreatedAt ?? action.CreatedAt,
                        StartedAt = a.StartedAt ?? action.StartedAt,
                        CompletedAt = a.CompletedAt ?? action.CompletedAt,
                        Outcome = a.Outcome ?? action.Outcome,
                        Plan = a.Plan ?? action.Plan,
                        Before = a.Before ?? action.Before,
                        After = a.After ?? action.After,
                    };
                    if (a.Lease is { } lease)
                    {
                        stored.Leases[a.ActionId] = lease;
                    }

                    break;
                case SavePlan p:
                    var i = stored.Actions.FindIndex(x => x.Id == p.ActionId);
                    if (i < 0)
                    {
                        throw new StoreConflictException($"action {p.ActionId} is not incident {incident.Id}'s");
                    }

                    stored.Actions[i] = stored.Actions[i] with { Plan = stored.Actions[i].Plan ?? p.Plan };
                    break;
                case RecordEvent e:
                    var entry = new IncidentEvent(incident.Id, e.At, e.Kind, e.Message);
                    if (!stored.Events.Contains(entry))
                    {
                        stored.Events.Add(entry);
                    }

                    break;
                case RecordAnswer answer:
                    stored.Answers.Add(answer.Answer with { IncidentId = incident.Id });
                    break;
                default:
                    throw new ArgumentException($"unknown change {change}");
            }
        }

        stored.Revision++;
        return stored.Record();
    }

    private static IEnumerable<Stored> Newest(IEnumerable<Stored> incidents) =>
        incidents.OrderByDescending(s => s.Incident.OpenedAt).ThenByDescending(s => s.Incident.Id);

    private Task<T> Read<T>(Func<Data, T> read)
    {
        lock (_gate)
        {
            return Task.FromResult(read(_data));
        }
    }

    private sealed class Data
    {
        public Dictionary<string, StoredPolicyState> States { get; init; } = [];

        public Dictionary<long, Stored> Incidents { get; init; } = [];

        public List<(string Policy, DateTimeOffset At, EvaluationRow Row)> Verdicts { get; init; } = [];

        public List<NotificationRecord> Notifications { get; init; } = [];

        public Dictionary<(long Incident, string Channel), ActionLease> DeliveryClaims { get; init; } = [];

        public long NextIncidentId { get; set; }

        public long NextActionId { get; set; }

        public Data Copy() => new()
        {
            States = new(States),
            Incidents = Incidents.ToDictionary(p => p.Key, p => p.Value.Copy()),
            Verdicts = [.. Verdicts],
            Notifications = [.. Notifications],
            DeliveryClaims = new(DeliveryClaims),
            NextIncidentId = NextIncidentId,
            NextActionId = NextActionId,
        };
    }

    private sealed class Stored
    {
        public required Incident Incident { get; set; }

        public required string OpenKey { get; init; }

        public List<ActionRecord> Actions { get; init; } = [];

        public Dictionary<long, ActionLease> Leases { get; init; } = [];

        public List<IncidentEvent> Events { get; init; } = [];

        public List<Acknowledgment> Answers { get; init; } = [];

        public DateTimeOffset? ResolveRequestedAt { get; set; }

        public long Revision { get; set; }

        public long NotifiedVersion { get; set; }

        public ActionLease? NotifyLease { get; set; }

        public IncidentRecord Record() => new(Incident, [.. Actions]) { ResolveRequestedAt = ResolveRequestedAt, Revision = Revision };

        public Stored Copy() => new()
        {
            Incident = Incident,
            OpenKey = OpenKey,
            Actions = [.. Actions],
            Leases = new(Leases),
            Events = [.. Events],
            Answers = [.. Answers],
            ResolveRequestedAt = ResolveRequestedAt,
            Revision = Revision,
            NotifiedVersion = NotifiedVersion,
            NotifyLease = NotifyLease,
        };
    }
}

/// <summary>Changes in memory: the history a manual rollback blames from.</summary>
internal sealed class InMemoryChangeStore(params Change[] changes) : IChangeStore
{
    public Task<RecordedChange> RecordChangeAsync(Change change, CancellationToken cancellationToken) => throw new NotSupportedException();

    public Task<IReadOnlyList<Change>> ListChangesAsync(string? policy, DateTimeOffset? since, int limit, CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<Change>>(changes.Where(c => policy is null || c.Policy == policy).ToList());

    public Task<ChangeHistory> LoadChangeHistoryAsync(string policy, DateTimeOffset since, CancellationToken cancellationToken) =>
        Task.FromResult(new ChangeHistory(changes.Where(c => c.Policy == policy)));

    public Task<Change?> GetChangeAsync(long id, CancellationToken cancellationToken) => Task.FromResult(changes.FirstOrDefault(c => c.Id == id));
}
