using RollbackSentinel.Actions.Revisions;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;

namespace RollbackSentinel.Daemon;

/// <summary>
/// Finds changes on the targets themselves (<c>spec.watch.detect.target</c>, on by default for kubectl and Helm): every
/// <see cref="TickEvery"/>, each loaded policy that reads its target has each rendered target read (at most once per
/// <c>spec.watch.detect.interval</c>, by <see cref="TargetChanges"/>), and a revision it has not seen becomes a change.
/// An untemplated target is one target; a templated one (<c>name: "{{ labels.deployment }}"</c>) is rendered once per
/// label set the policy's last evaluation saw. Runs beside the evaluations, never in their way: a slow or failing read
/// delays only other reads, and is logged and counted, never a change.
/// </summary>
internal sealed partial class ChangeDetectionService(
    PolicyRegistry registry,
    TargetChanges changes,
    TimeProvider time,
    ILogger<ChangeDetectionService> logger) : BackgroundService
{
    /// <summary>How often the policies are looked through; each rendered target is read only once its interval has passed.</summary>
    public static readonly TimeSpan TickEvery = TimeSpan.FromSeconds(1);

    /// <summary>Reads that may run at once (each is a kubectl or helm process).</summary>
    public const int MaxConcurrentReads = 4;

    private readonly Wakeup _wakeup = new(TickEvery, time);
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, (string Reason, DateTimeOffset At)> _logged = new(StringComparer.Ordinal);

    public override void Dispose()
    {
        _wakeup.Dispose();
        base.Dispose();
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await _wakeup.RunAsync(DetectAsync, LogRunFailed, stoppingToken).ConfigureAwait(false);
    }

    /// <summary>One round: every rendered target of every policy that reads its target, read if its interval has passed.</summary>
    public async Task DetectAsync(CancellationToken cancellationToken)
    {
        var work = registry.Entries.SelectMany(e => Rendered(e)).ToList();
        await Parallel.ForEachAsync(
            work,
            new ParallelOptions { MaxDegreeOfParallelism = MaxConcurrentReads, CancellationToken = cancellationToken },
            async (item, ct) =>
            {
                try
                {
                    await changes.DetectAsync(item.Policy, item.Labels, ct).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    // The store failed, or a bug: this target is tried again next round, the others go on (logged once
                    // per policy and reason every few minutes, not every round).
                    var now = time.GetUtcNow();
                    var reason = $"{e.GetType().Name}: {e.Message}";
                    if (!_logged.TryGetValue(item.Policy.Name, out var logged) || logged.Reason != reason || now - logged.At >= TargetChanges.RepeatFailureLogEvery)
                    {
                        _logged[item.Policy.Name] = (reason, now);
                        LogDetectFailed(e, item.Policy.Name);
                    }
                }
            }).ConfigureAwait(false);
    }

    /// <summary>
    /// The rendered targets of a policy that reads its target: once with no labels when untemplated; else once per label
    /// set (the labels its templates use) among the series its last evaluation saw. None before its first evaluation.
    /// </summary>
    internal static IEnumerable<(Policy Policy, LabelSet Labels)> Rendered(PolicyEntry entry)
    {
        var policy = entry.Policy;
        if (!policy.Watch.Detect.ReadsTarget(policy.Target) || !TargetRevisionReaders.CanRead(policy.Target))
        {
            return [];
        }

        var names = TargetRevisionReaders.LabelNames(policy.Target);
        if (names.Count == 0)
        {
            return [(policy, LabelSet.Empty)];
        }

        var last = entry.Runner.Last;
        if (last is null)
        {
            return [];
        }

        return last.Triggers
            .SelectMany(t => t.Verdicts)
            .Select(v => TargetRevisionReaders.LabelsFor(policy.Target, v.Labels))
            .Where(l => l.Count == names.Count)
            .Distinct()
            .Select(l => (policy, l))
            .ToList();
    }

    [LoggerMessage(EventId = 956, Level = LogLevel.Error, Message = "Detecting changes on the target of {Policy} failed; the next round tries again")]
    private partial void LogDetectFailed(Exception exception, string policy);

    [LoggerMessage(EventId = 957, Level = LogLevel.Error, Message = "A change detection round failed; the next round tries again")]
    private partial void LogRunFailed(Exception exception);
}
