using System.Collections.Concurrent;
using System.Text.Json;
using RollbackSentinel.Core.Evaluation;
using RollbackSentinel.Core.Incidents;
using RollbackSentinel.Notifications;

namespace RollbackSentinel.Daemon;

/// <summary>
/// Tells the configured channels (Slack, PagerDuty, Alertmanager) about incidents: once per state change of an
/// incident per channel, updating the channel's one message (its reference is kept in the store), never once per
/// evaluation. Runs every couple of seconds and when poked; a channel that fails is tried again on the next run
/// (the state it last showed is only recorded once it was published), so nothing is lost across restarts.
/// </summary>
/// <remarks>
/// Fencing (several sentinels on one store): a run claims incidents for <see cref="ClaimFor"/>, and each channel's
/// delivery of an incident is claimed on its own (<see cref="IIncidentStore.ClaimDeliveryAsync"/>) right before it is
/// published, renewed while the channel takes its time (<see cref="IIncidentStore.RenewDeliveryClaimAsync"/>: only a claim
/// that still exists, is this sentinel's and has not ended is extended; a lost one is never re-created), and ended by
/// recording what was published. A sentinel that was
/// paused or cut off past its claims finds another's delivery claim and skips that channel (it was fenced); after a
/// claim, the incident and what the channel last showed are read again, so a change another sentinel published
/// meanwhile is never published again, nor an older state over it.
/// </remarks>
internal sealed partial class NotificationDispatcher(
    IIncidentStore store,
    IEnumerable<IIncidentChannel> channels,
    PolicyRegistry registry,
    Hosting.SentinelOptions options,
    Telemetry.SentinelMetrics metrics,
    TimeProvider time,
    ILogger<NotificationDispatcher> logger) : BackgroundService
{
    public static readonly TimeSpan RunEvery = TimeSpan.FromSeconds(2);

    /// <summary>
    /// How long the incidents a run claims, and each channel delivery it claims, are leased to this sentinel (<c>node.id</c>):
    /// another sharing the store leaves them alone meanwhile, and takes over those of a sentinel that died within it. A run
    /// stops taking the next incident at half of it; a delivery whose channel takes longer (retries) is renewed every
    /// third of it while it runs, so another sentinel never publishes the same change meanwhile.
    /// </summary>
    public static readonly TimeSpan ClaimFor = TimeSpan.FromMinutes(1);

    private readonly IReadOnlyList<IIncidentChannel> _channels = [.. channels];
    private readonly Wakeup _wakeup = new(RunEvery, time);
    private readonly ConcurrentDictionary<(long Incident, string Channel), string> _lastErrors = new();

    /// <summary>Channels that asked to be left alone (a rate limit), until when: skipped for every incident meanwhile.</summary>
    private readonly ConcurrentDictionary<string, DateTimeOffset> _quietUntil = new(StringComparer.Ordinal);
    private DateTimeOffset _lastRepublish = DateTimeOffset.MinValue;

    /// <summary>
    /// What a channel was shown but the store did not record (it failed right after the channel took the message, e.g.
    /// PostgreSQL restarting), per incident and channel: saved first on the next run, and meanwhile taken as what the channel
    /// last showed, so its one message is updated (never posted again) and the same state is not published twice.
    /// </summary>
    private readonly ConcurrentDictionary<(long Incident, string Channel), NotificationRecord> _unsaved = new();
    public bool Enabled => _channels.Count > 0;

    public void Poke() => _wakeup.Poke();

    public override void Dispose()
    {
        _wakeup.Dispose();
        base.Dispose();
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!Enabled)
        {
            // The rules are loaded before hosted services run: say once, plainly, whose pages go nowhere.
            // A rollback trigger outside its watch window takes spec.watch.outside, a page by default.
            var paging = registry.Entries
                .Where(e => e.Policy.Triggers.Any(t => t.Action == Core.Policies.TriggerAction.Page
                    || (t.Action == Core.Policies.TriggerAction.Rollback && e.Policy.Watch.Outside == Core.Policies.OutsideAction.Page)))
                .Select(e => e.Policy.Name).Order(StringComparer.Ordinal).ToList();
            if (paging.Count > 0)
            {
                LogPagesGoNowhere(paging.Count, string.Join(", ", paging));
            }

            return;
        }

        await _wakeup.RunAsync(DispatchAsync, LogRunFailed, stoppingToken).ConfigureAwait(false);
    }

    public async Task DispatchAsync(CancellationToken cancellationToken)
    {
        // Open incidents that did not change are only read when a channel re-publishes (Alertmanager), and only as
        // often as it needs to: otherwise every run would re-read every open incident for nothing.
        var republishEvery = _channels.Select(c => c.RepublishEvery).OfType<TimeSpan>().DefaultIfEmpty(TimeSpan.MaxValue).Min();
        var includeOpen = republishEvery != TimeSpan.MaxValue && time.GetUtcNow() - _lastRepublish >= republishEvery;
        if (includeOpen)
        {
            _lastRepublish = time.GetUtcNow();
        }

        // Published but not recorded on an earlier run: recorded before anything else is published (a store still down
        // fails this run, and the next tries again).
        await SaveUnsavedAsync(cancellationToken).ConfigureAwait(false);

        var claimedAt = time.GetUtcNow();
        var lease = new ActionLease(options.Node.Id, claimedAt + ClaimFor);
        var claimed = await store.ClaimToNotifyAsync(includeOpen, 500, lease, claimedAt, cancellationToken).ConfigureAwait(false);
        var unfinished = claimed.Select(i => i.Id).ToHashSet();
        var fenced = new List<(long Incident, string Channel)>();
        try
        {
            await DispatchClaimedAsync(claimed, claimedAt, unfinished, fenced, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            if (fenced.Count > 0)
            {
                // Once per run, however many: a sentinel that wakes from a long pause may find many.
                LogDeliveriesFenced(fenced.Count, fenced[0].Channel, fenced[0].Incident);
            }

            // Claimed but not told (a failed channel, the run cut short): handed back at once, in one write, rather
            // than held until the lease ends; nothing is written when every claimed incident was marked.
            if (unfinished.Count > 0)
            {
                await store.ReleaseNotificationLeasesAsync(lease.Owner, unfinished, CancellationToken.None).ConfigureAwait(false);
            }
        }
    }

    private async Task DispatchClaimedAsync(IReadOnlyList<Incident> claimed, DateTimeOffset claimedAt, HashSet<long> unfinished, List<(long Incident, string Channel)> fenced, CancellationToken cancellationToken)
    {
        foreach (var incident in claimed)
        {
            if (time.GetUtcNow() - claimedAt >= ClaimFor / 2)
            {
                break;
            }

            if (await store.GetIncidentAsync(incident.Id, cancellationToken).ConfigureAwait(false) is not { } timeline)
            {
                continue;
            }

            var notice = Build(timeline);
            var published = (await store.GetNotificationsAsync(incident.Id, cancellationToken).ConfigureAwait(false)).ToDictionary(n => n.Channel, StringComparer.Ordinal);
            var allTold = true;
            foreach (var channel in _channels)
            {
                published.TryGetValue(channel.Name, out var last);
                var now = time.GetUtcNow();
                if (_quietUntil.TryGetValue(channel.Name, out var quiet) && now < quiet)
                {
                    allTold = false;
                    continue;
                }

                if (!Due(channel, notice, last, now))
                {
                    continue;
                }

                // Fencing: this channel's delivery of the incident is this sentinel's, or it is skipped this run.
                if (!await store.ClaimDeliveryAsync(incident.Id, channel.Name, new ActionLease(options.Node.Id, now + ClaimFor), now, cancellationToken).ConfigureAwait(false))
                {
                    allTold = false;
                    fenced.Add((incident.Id, channel.Name));
                    metrics.RecordFenced(Telemetry.SentinelMetrics.FencedWhat.Notification);
                    continue;
                }

                // Read again under the claim: another sentinel may have published this channel (and the incident moved on)
                // since this run read them, while this one was paused or its incident claim ran out.
                if (await store.GetIncidentAsync(incident.Id, cancellationToken).ConfigureAwait(false) is not { } fresh)
                {
                    allTold = false;
                    break;
                }

                notice = Build(fresh);
                last = (await store.GetNotificationsAsync(incident.Id, cancellationToken).ConfigureAwait(false)).FirstOrDefault(n => n.Channel == channel.Name);
                now = time.GetUtcNow();
                if (!Due(channel, notice, last, now))
                {
                    // Told already (by another sentinel): the same record written again ends this one's claim at once.
                    await store.SaveNotificationAsync(last!, cancellationToken).ConfigureAwait(false);
                    continue;
                }

                var state = StateOf(notice);
                try
                {
                    string? reference;
                    var keeper = LeaseKeeper.Start(
                        // Update-only: a claim ended meanwhile (another sentinel took it over and published) is never re-created.
                        ct => store.RenewDeliveryClaimAsync(incident.Id, channel.Name, new ActionLease(options.Node.Id, time.GetUtcNow() + ClaimFor), time.GetUtcNow(), ct),
                        ClaimFor / 3,
                        time,
                        () =>
                        {
                            metrics.RecordFenced(Telemetry.SentinelMetrics.FencedWhat.Notification);
                            LogFencedWhilePublishing(channel.Name, incident.Id);
                        },
                        e => LogClaimRenewalFailed(e, channel.Name, incident.Id));
                    await using (keeper.ConfigureAwait(false))
                    {
                        reference = await channel.PublishAsync(notice, last?.Reference, cancellationToken).ConfigureAwait(false);
                    }

                    var record = new NotificationRecord(incident.Id, channel.Name, reference ?? last?.Reference, state.Format(), now);
                    _unsaved[(incident.Id, channel.Name)] = record;
                    await store.SaveNotificationAsync(record, cancellationToken).ConfigureAwait(false);
                    _unsaved.TryRemove(KeyValuePair.Create((incident.Id, channel.Name), record));
                    if (_lastErrors.TryRemove((incident.Id, channel.Name), out _))
                    {
                        LogChannelRecovered(channel.Name, incident.Id);
                    }
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    allTold = false;
                    await EndDeliveryClaimAsync(incident.Id, channel.Name).ConfigureAwait(false);
                    if (e is NotificationException { RetryAfter: { } retryAfter })
                    {
                        _quietUntil[channel.Name] = now + retryAfter;
                    }

                    var reason = e is NotificationException ? e.Message : $"{e.GetType().Name}: {e.Message}";
                    if (!_lastErrors.TryGetValue((incident.Id, channel.Name), out var previous) || previous != reason)
                    {
                        _lastErrors[(incident.Id, channel.Name)] = reason;
                        LogChannelFailed(channel.Name, incident.Id, notice.Kind, reason);
                    }
                }
            }

            // Only once every channel has it is the change done: a failed channel is tried again on the next run,
            // however long ago the change was made.
            if (allTold)
            {
                await store.MarkNotifiedAsync(incident.Id, incident.Version, options.Node.Id, cancellationToken).ConfigureAwait(false);
                unfinished.Remove(incident.Id);
            }
        }
    }

    /// <summary>
    /// Records what channels were shown on earlier runs but the store failed to record; one the store already has a newer
    /// record of (another sentinel published since) is dropped rather than written over it.
    /// </summary>
    private async Task SaveUnsavedAsync(CancellationToken cancellationToken)
    {
        foreach (var (key, record) in _unsaved.ToArray())
        {
            var stored = (await store.GetNotificationsAsync(key.Incident, cancellationToken).ConfigureAwait(false)).FirstOrDefault(n => n.Channel == key.Channel);
            if (stored is null || stored.At < record.At)
            {
                await store.SaveNotificationAsync(record, cancellationToken).ConfigureAwait(false);
                LogUnsavedRecorded(key.Channel, key.Incident);
            }

            _unsaved.TryRemove(KeyValuePair.Create(key, record));
        }
    }

    /// <summary>
    /// A delivery that failed hands its claim back (renewed to end now), so another sentinel may try the channel at once
    /// rather than find it claimed; a claim that is no longer this sentinel's is left as it is (never re-created); a store
    /// that fails this leaves the claim to end by itself.
    /// </summary>
    private async Task EndDeliveryClaimAsync(long incidentId, string channel)
    {
        try
        {
            var now = time.GetUtcNow();
            await store.RenewDeliveryClaimAsync(incidentId, channel, new ActionLease(options.Node.Id, now), now, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogClaimRenewalFailed(e, channel, incidentId);
        }
    }

    /// <summary>Whether <paramref name="channel"/>, which last showed <paramref name="last"/>, is due the notice now: it has not shown this state, or it re-publishes and it is time.</summary>
    private static bool Due(IIncidentChannel channel, IncidentNotice notice, NotificationRecord? last, DateTimeOffset now) =>
        last is null
        || NotificationState.Parse(last.State) != StateOf(notice)
        || (channel.RepublishEvery is { } every && !notice.Closes && now - last.At >= every);

    /// <summary>What a channel has seen of the notice (<see cref="NotificationState"/>; an unreadable stored one differs).</summary>
    private static NotificationState StateOf(IncidentNotice notice) =>
        new(notice.Kind.ToString(), notice.AnsweredBy, notice.AnswerDeadline);

    /// <summary>The notice for where the incident stands now.</summary>
    internal IncidentNotice Build(IncidentTimeline timeline)
    {
        var incident = timeline.Incident;
        var action = timeline.Actions.Count == 0 ? null : timeline.Actions[^1];
        var answer = timeline.Acknowledgments.LastOrDefault(a => a.Answer is Answers.Approve or Answers.Deny or Answers.Snooze);
        var rollback = action?.Kind == "rollback";
        var kind = incident.Status switch
        {
            IncidentStatus.AwaitingConfirmation when incident.TimedOutAt is not null => NoticeKind.TimedOut,
            IncidentStatus.AwaitingConfirmation when answer?.Answer == Answers.Snooze => NoticeKind.Snoozed,
            IncidentStatus.AwaitingConfirmation => NoticeKind.AwaitingConfirmation,
            IncidentStatus.Denied => NoticeKind.Denied,
            IncidentStatus.Resolved when incident.Trigger == IncidentService.ManualTrigger && action?.Status == ActionStatus.Succeeded => NoticeKind.RolledBack,
            IncidentStatus.Resolved => NoticeKind.Recovered,
            _ when incident.DryRun => NoticeKind.DryRun,
            IncidentStatus.ActionFailed or IncidentStatus.ActionInterrupted => rollback ? NoticeKind.RollbackFailed : NoticeKind.Paged,
            IncidentStatus.Open or IncidentStatus.Acting when rollback => NoticeKind.RollingBack,
            IncidentStatus.Acted when rollback => NoticeKind.RolledBack,
            _ => incident.Action == Core.Policies.TriggerAction.Notify ? NoticeKind.Notified : NoticeKind.Paged,
        };

        // A value that is not a finite number (NaN, +Inf) shows the query's note, or "-", as before.
        var evidence = ReadEvidence(incident);
        var lines = evidence.Queries.Select(q => new EvidenceLine(q.Role, q.Query, Finite(q.Value) is { } v ? TriggerEvaluator.Num(v) : q.Note ?? "-")).ToList();
        var plan = action?.Plan is { } json ? TryPlanSummary(json) : null;
        var confirm = registry.Find(incident.Policy)?.Policy.Confirm;
        return new IncidentNotice
        {
            Incident = incident,
            Kind = kind,
            Headline = $"{incident.Policy}/{incident.Trigger}{(incident.Labels.Count == 0 ? "" : " " + incident.Labels)}: {incident.Summary}",
            Since = evidence.Since ?? incident.OpenedAt,
            Value = Finite(evidence.Value),
            Threshold = Finite(evidence.Threshold),
            Baseline = Finite(evidence.Baseline),
            Evidence = lines,
            Target = action?.Target,
            // An interrupted action says so in words (its outcome only says why), so the channel's message shows the interruption.
            Action = action?.Status == ActionStatus.Interrupted
                ? $"{(rollback ? $"rollback of {action.Target}" : $"{action.Kind} about {action.Target}")} interrupted: {action.Outcome ?? IncidentLifecycle.InterruptedOutcome}"
                : action?.Outcome ?? plan ?? (rollback ? $"roll back {action!.Target}" : null),
            Before = action?.Before,
            After = action?.After,
            AnsweredBy = answer is null ? null : $"{Past(answer.Answer)} by {answer.By} via {answer.Channel}" + (answer.Reason is { } r ? $": {r}" : ""),
            AnswerDeadline = incident.AnswerDeadline,
            OnTimeout = confirm?.OnTimeout.ToString().ToLowerInvariant(),
            Link = options.Notifications.ExternalUrl is { Length: > 0 } external && Uri.TryCreate(external.TrimEnd('/') + $"/api/v1/incidents/{incident.Id}", UriKind.Absolute, out var link) ? link : null,
        };
    }

    private static string Past(string answer) => answer switch
    {
        Answers.Approve => "approved",
        Answers.Deny => "denied",
        Answers.Snooze => "snoozed",
        _ => answer,
    };

    private static string? TryPlanSummary(string json)
    {
        try
        {
            return Actions.ActionPlan.FromJson(json).Summary;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>The incident's evidence; evidence that cannot be read is shown as none rather than keeping the incident from every channel.</summary>
    private static IncidentEvidence ReadEvidence(Incident incident)
    {
        try
        {
            return incident.ReadEvidence();
        }
        catch (InvalidDataException)
        {
            return new IncidentEvidence { Verdict = string.Empty, Summary = incident.Summary };
        }
    }

    private static double? Finite(double? value) => value is { } v && double.IsFinite(v) ? v : null;

    [LoggerMessage(EventId = 600, Level = LogLevel.Warning, Message = "Telling {Channel} about incident {Incident} ({Kind}) failed, tried again shortly: {Reason}")]
    private partial void LogChannelFailed(string channel, long incident, NoticeKind kind, string reason);

    [LoggerMessage(EventId = 601, Level = LogLevel.Information, Message = "{Channel} has heard about incident {Incident} again")]
    private partial void LogChannelRecovered(string channel, long incident);

    [LoggerMessage(EventId = 602, Level = LogLevel.Error, Message = "A notification run failed; the next run tries again")]
    private partial void LogRunFailed(Exception exception);

    [LoggerMessage(EventId = 1166, Level = LogLevel.Warning,
        Message = "{Count} channel deliveries this run are claimed by another sentinel (the first: {Channel} about incident {Incident}): this sentinel was fenced and left them to it")]
    private partial void LogDeliveriesFenced(int count, string channel, long incident);

    [LoggerMessage(EventId = 1167, Level = LogLevel.Error,
        Message = "Renewing the claim to tell {Channel} about incident {Incident} was refused while publishing: this sentinel was fenced (its claim ran out, or was taken over or ended by another sentinel, while it was paused or cut off); it stops renewing, and what it published cannot be taken back")]
    private partial void LogFencedWhilePublishing(string channel, long incident);

    [LoggerMessage(EventId = 1168, Level = LogLevel.Warning, Message = "Renewing the claim to tell {Channel} about incident {Incident} failed; tried again shortly")]
    private partial void LogClaimRenewalFailed(Exception exception, string channel, long incident);

    [LoggerMessage(EventId = 1169, Level = LogLevel.Information,
        Message = "{Channel} was told about incident {Incident} but the store failed to record it; recorded now, so its message is updated rather than posted again")]
    private partial void LogUnsavedRecorded(string channel, long incident);

    [LoggerMessage(EventId = 603, Level = LogLevel.Warning,
        Message = "No paging channel is configured (notifications: slack, pagerDuty or alertmanager), but {Count} polic(ies) page: {Policies}. Their pages reach nobody: a page is recorded as failed and logged at critical level (event 310); a question to confirm a rollback can only be seen and answered through the API or CLI")]
    private partial void LogPagesGoNowhere(int count, string policies);
}
