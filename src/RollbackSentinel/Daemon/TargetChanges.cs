using System.Collections.Concurrent;
using RollbackSentinel.Actions;
using RollbackSentinel.Actions.Revisions;
using RollbackSentinel.Core.Changes;
using RollbackSentinel.Core.Incidents;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Telemetry;

namespace RollbackSentinel.Daemon;

/// <summary>
/// Changes read from targets, and the sentinel's own rollbacks, recorded as changes of source <c>target</c>. One
/// instance is shared by <see cref="ChangeDetectionService"/> (reads) and <see cref="ActionExecutor"/> (rollbacks), so
/// that:
/// <list type="bullet">
/// <item>a rendered target (<see cref="TargetIdentity"/>) is read at most once per <c>spec.watch.detect.interval</c>,
/// however many policies guard it: the last read is kept and shared;</item>
/// <item>while the sentinel rolls a target back it holds the target (<see cref="HoldAsync"/>): no read runs until the
/// rollback's revision has been recorded as the sentinel's (<see cref="RecordRollbackAsync"/>), so the detector never
/// sees that revision first and never records it as someone else's change that would re-arm the watch window;</item>
/// <item>a revision the sentinel rolled a target back to is recorded as the sentinel's for every policy that reads it.</item>
/// </list>
/// A revision never seen before for a policy and label set is recorded (the store also refuses one it has). Its time is
/// the revision's creation; a revision re-used by an undo (created long ago: a ReplicaSet with a revision-history, or one
/// created before the revision it replaced) is dated when it was first seen instead.
/// </summary>
internal sealed partial class TargetChanges(
    ITargetRevisionReader reader,
    IChangeStore store,
    SentinelMetrics metrics,
    TimeProvider time,
    ILogger<TargetChanges> logger,
    Rules.SecretFileAccess? secretFiles = null)
{
    /// <summary>A failing read is logged when it starts failing or its reason changes, and then at most this often.</summary>
    public static readonly TimeSpan RepeatFailureLogEvery = TimeSpan.FromMinutes(5);

    /// <summary>How many stored changes are looked through for the last revision seen before a restart.</summary>
    private const int SeedLookback = 200;

    private readonly ConcurrentDictionary<string, TargetSlot> _targets = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<(string Policy, LabelSet Labels), Seen> _seen = new();

    /// <summary>
    /// Reads <paramref name="policy"/>'s target for the series <paramref name="labels"/> (unless it was read less than an
    /// interval ago, or is held by a rollback: then the last read is used, or nothing is done), and records its revision
    /// when this policy has not seen it yet. Never throws for a failed read: it is counted and logged (rate-limited).
    /// </summary>
    /// <returns>The change recorded, or null.</returns>
    public async Task<Change?> DetectAsync(Policy policy, LabelSet labels, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(labels);
        var identity = TargetIdentity.For(policy, labels);
        var slot = _targets.GetOrAdd(identity, _ => new TargetSlot());
        if (!await slot.Lock.WaitAsync(TimeSpan.Zero, cancellationToken).ConfigureAwait(false))
        {
            return null; // a rollback of it is running, or another policy is reading it right now: its result is used next time
        }

        try
        {
            var now = time.GetUtcNow();
            if (slot.ReadAt is not { } last || now - last >= policy.Watch.Detect.Interval)
            {
                slot.ReadAt = now;
                try
                {
                    // Checked when the rules were loaded; checked again now, as the file may have been swapped since.
                    if (policy.Target is KubectlTarget { Kubeconfig: { } kubeconfig } && secretFiles?.Problem(kubeconfig) is { } problem)
                    {
                        throw new ActionFailedException($"refused: {problem}");
                    }

                    slot.Last = await reader.ReadAsync(policy, labels, cancellationToken).ConfigureAwait(false);
                    slot.SeenAt = now;
                    metrics.RecordTargetRead(policy.Name, policy.Target.Kind, ok: true);
                    if (slot.Failure is not null)
                    {
                        slot.Failure = null;
                        LogReadRecovered(policy.Name, identity);
                    }
                }
                catch (Exception e) when (e is ActionFailedException or IOException or InvalidOperationException || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
                {
                    slot.Last = null;
                    metrics.RecordTargetRead(policy.Name, policy.Target.Kind, ok: false);
                    var reason = e is ActionFailedException ? e.Message : $"{e.GetType().Name}: {e.Message}";
                    if (slot.Failure != reason || now - slot.FailureLoggedAt >= RepeatFailureLogEvery)
                    {
                        slot.Failure = reason;
                        slot.FailureLoggedAt = now;
                        LogReadFailed(policy.Name, identity, reason);
                    }

                    return null;
                }
            }

            return slot.Last is { } read ? await RecordAsync(policy, labels, identity, slot, read, cancellationToken).ConfigureAwait(false) : null;
        }
        finally
        {
            slot.Lock.Release();
        }
    }

    /// <summary>
    /// Holds the target a rollback of <paramref name="policy"/> for <paramref name="labels"/> acts on: no detector read of
    /// it runs until the hold is disposed. Null for targets that are not read.
    /// </summary>
    public async Task<IDisposable?> HoldAsync(Policy policy, LabelSet labels, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(policy);
        if (!TargetRevisionReaders.CanRead(policy.Target))
        {
            return null;
        }

        var slot = _targets.GetOrAdd(TargetIdentity.For(policy, labels), _ => new TargetSlot());
        await slot.Lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        return new Release(slot.Lock);
    }

    /// <summary>
    /// Records a rollback the sentinel made (or found made, by another sentinel) as a change by
    /// <see cref="Change.SentinelActor"/>: kubectl and Helm targets with the revision read back now (with the target
    /// held, see <see cref="HoldAsync"/>); other targets with what the rollback moved them to. Never throws: a failure is
    /// logged, and the next revision the detector finds for the target is still taken as the sentinel's.
    /// </summary>
    public async Task<Change?> RecordRollbackAsync(Policy policy, Incident incident, ActionResult result, ActionPlan? plan, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(incident);
        ArgumentNullException.ThrowIfNull(result);
        var labels = TargetRevisionReaders.LabelsFor(policy.Target, incident.Labels);
        var identity = TargetIdentity.For(policy, incident.Labels);
        var now = time.GetUtcNow();
        var why = $"rollback by the sentinel (incident {incident.Id})";
        try
        {
            string revision;
            string description;
            if (TargetRevisionReaders.CanRead(policy.Target))
            {
                var slot = _targets.GetOrAdd(identity, _ => new TargetSlot());
                TargetRevision? read;
                try
                {
                    read = await reader.ReadAsync(policy, incident.Labels, cancellationToken).ConfigureAwait(false);
                    metrics.RecordTargetRead(policy.Name, policy.Target.Kind, ok: true);
                }
                catch (ActionFailedException e)
                {
                    metrics.RecordTargetRead(policy.Name, policy.Target.Kind, ok: false);
                    slot.UnreadRollbackAt = now;
                    LogRollbackNotRead(policy.Name, incident.Id, identity, e.Message);
                    return null;
                }

                if (read is null)
                {
                    return null;
                }

                slot.Last = read;
                slot.ReadAt = now;
                slot.SeenAt = now;
                slot.SentinelRevisions[read.Revision] = now;
                slot.UnreadRollbackAt = null;
                revision = read.Revision;
                description = $"{why}: {read.Description}";
            }
            else
            {
                // Webhook and HAProxy: what it moved to ("blue=100 green=0"), per incident, so every rollback is one change.
                revision = $"{result.After ?? plan?.After ?? "rolled back"} (incident {incident.Id})";
                description = $"{why}: {result.Outcome}";
            }

            var key = (policy.Name, labels);
            var previous = _seen.TryGetValue(key, out var seen) ? seen.Revision : (await LastStoredAsync(policy.Name, labels, cancellationToken).ConfigureAwait(false))?.Revision;
            _seen[key] = new Seen(revision, now);
            var recorded = await store.RecordChangeAsync(
                new Change
                {
                    Policy = policy.Name,
                    Labels = labels,
                    At = now,
                    Source = ChangeSource.Target,
                    Revision = revision,
                    PreviousRevision = previous == revision ? null : previous,
                    By = Change.SentinelActor,
                    Description = description,
                },
                cancellationToken).ConfigureAwait(false);
            if (recorded.Created)
            {
                metrics.RecordChange(policy.Name, ChangeSource.Target);
            }

            LogRollbackRecorded(policy.Name, recorded.Change.Id, recorded.Change.What, incident.Id);
            return recorded.Change;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogRollbackNotRecorded(e, policy.Name, incident.Id);
            return null;
        }
    }

    private async Task<Change?> RecordAsync(Policy policy, LabelSet series, string identity, TargetSlot slot, TargetRevision read, CancellationToken cancellationToken)
    {
        var labels = TargetRevisionReaders.LabelsFor(policy.Target, series);
        var key = (policy.Name, labels);
        var now = time.GetUtcNow();
        if (!_seen.TryGetValue(key, out var seen))
        {
            // The first read since the daemon started: the revision it knew before, from the store.
            seen = await LastStoredAsync(policy.Name, labels, cancellationToken).ConfigureAwait(false) is { Revision: { } r } stored ? new Seen(r, stored.At) : null;
        }

        if (seen?.Revision == read.Revision)
        {
            _seen[key] = seen;
            return null;
        }

        var previous = seen?.Revision;
        var seenAt = slot.SeenAt ?? now;
        var at = When(read, seen, seenAt);
        string? by = null;
        if (slot.SentinelRevisions.TryGetValue(read.Revision, out var rolledBackAt))
        {
            by = Change.SentinelActor;
            at = rolledBackAt;
        }
        else if (slot.UnreadRollbackAt is { } since && now - since < policy.Cooldown)
        {
            // The sentinel rolled it back, but could not read the revision then: the first new one since is the rollback.
            by = Change.SentinelActor;
            slot.SentinelRevisions[read.Revision] = since;
            slot.UnreadRollbackAt = null;
            at = since;
        }

        var recorded = await store.RecordChangeAsync(
            new Change
            {
                Policy = policy.Name,
                Labels = labels,
                At = at,
                Source = ChangeSource.Target,
                Revision = read.Revision,
                PreviousRevision = previous,
                By = by,
                Description = by is null ? read.Description : $"rollback by the sentinel: {read.Description}",
            },
            cancellationToken).ConfigureAwait(false);
        _seen[key] = new Seen(read.Revision, at);
        if (!recorded.Created)
        {
            return null;
        }

        metrics.RecordChange(policy.Name, ChangeSource.Target);
        LogChangeFound(policy.Name, recorded.Change.Id, identity, recorded.Change.What, read.Description);
        return recorded.Change;
    }

    /// <summary>
    /// When a revision seen for the first time came: its creation (by the API server's clock, like the previous
    /// revision's, so clocks that disagree do not matter), unless it was made before the revision it replaced, or is a
    /// ReplicaSet an undo re-used: then when it was first seen. A creation later than the read itself is the read's time.
    /// </summary>
    private static DateTimeOffset When(TargetRevision read, Seen? previous, DateTimeOffset seenAt)
    {
        if (read.CreatedAt is not { } created || (previous is not null && (read.Reused || created <= previous.At)))
        {
            return seenAt;
        }

        return created < seenAt ? created : seenAt;
    }

    /// <summary>The latest target change stored for the policy and label set, or null.</summary>
    private async Task<Change?> LastStoredAsync(string policy, LabelSet labels, CancellationToken cancellationToken)
    {
        var stored = await store.ListChangesAsync(policy, null, SeedLookback, cancellationToken).ConfigureAwait(false);
        return stored.FirstOrDefault(c => c.Source == ChangeSource.Target && c.Labels.Equals(labels));
    }

    /// <summary>One rendered target: its last read, shared by the policies reading it, and who may read it now.</summary>
    private sealed class TargetSlot
    {
        public SemaphoreSlim Lock { get; } = new(1, 1);

        public DateTimeOffset? ReadAt { get; set; }

        public DateTimeOffset? SeenAt { get; set; }

        public TargetRevision? Last { get; set; }

        public string? Failure { get; set; }

        public DateTimeOffset FailureLoggedAt { get; set; }

        /// <summary>When the sentinel rolled it back without being able to read the revision it rolled back to.</summary>
        public DateTimeOffset? UnreadRollbackAt { get; set; }

        /// <summary>Revisions the sentinel rolled it back to, and when.</summary>
        public ConcurrentDictionary<string, DateTimeOffset> SentinelRevisions { get; } = new(StringComparer.Ordinal);
    }

    /// <summary>The revision a policy last saw for a label set, and when it came (its change's time).</summary>
    private sealed record Seen(string Revision, DateTimeOffset At);

    private sealed class Release(SemaphoreSlim semaphore) : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
            {
                semaphore.Release();
            }
        }
    }

    [LoggerMessage(EventId = 950, Level = LogLevel.Information, Message = "Change {Id} of {Policy} found on its target {Target}: {What} ({Description})")]
    private partial void LogChangeFound(string policy, long id, string target, string what, string description);

    [LoggerMessage(EventId = 951, Level = LogLevel.Warning, Message = "Reading the revision of {Target} for {Policy} failed (no change is recorded from it until a read succeeds): {Reason}")]
    private partial void LogReadFailed(string policy, string target, string reason);

    [LoggerMessage(EventId = 952, Level = LogLevel.Information, Message = "Reading the revision of {Target} for {Policy} works again")]
    private partial void LogReadRecovered(string policy, string target);

    [LoggerMessage(EventId = 953, Level = LogLevel.Information, Message = "Rollback of {Policy} (incident {Incident}) recorded as the sentinel's change {Id}: {What}")]
    private partial void LogRollbackRecorded(string policy, long id, string what, long incident);

    [LoggerMessage(EventId = 954, Level = LogLevel.Warning,
        Message = "Rollback of {Policy} (incident {Incident}): reading {Target}'s revision back failed, so the next new revision found on it is taken as the rollback: {Reason}")]
    private partial void LogRollbackNotRead(string policy, long incident, string target, string reason);

    [LoggerMessage(EventId = 955, Level = LogLevel.Error, Message = "Rollback of {Policy} (incident {Incident}) could not be recorded as a change")]
    private partial void LogRollbackNotRecorded(Exception exception, string policy, long incident);
}
