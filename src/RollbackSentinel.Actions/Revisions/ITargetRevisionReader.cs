using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using RollbackSentinel.Actions.Processes;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;

namespace RollbackSentinel.Actions.Revisions;

/// <summary>
/// What a target runs now, as its adapter reads it: the revision that becomes a change of source <c>target</c> the
/// first time it is seen.
/// </summary>
/// <param name="Revision">
/// Stable for the same revision, different for any other: <c>3 (checkout-7d9f8c)</c> (the Deployment's revision and its
/// ReplicaSet), <c>2 (web-5f4d)</c> (a ControllerRevision), <c>5 (shop-1.5.0)</c> (a Helm revision and its chart).
/// </param>
/// <param name="CreatedAt">When the revision was made (the ReplicaSet's or ControllerRevision's creation, Helm's <c>updated</c>); null when unknown.</param>
/// <param name="Description">What it runs, for people: <c>deployment/checkout in shop: images shop:1.5</c>, <c>release shop: chart shop-1.5.0, app version 1.5.0</c>.</param>
public sealed record TargetRevision(string Revision, DateTimeOffset? CreatedAt, string Description)
{
    /// <summary>
    /// The revision re-uses an older object (an undo made an old ReplicaSet the newest revision): its
    /// <see cref="CreatedAt"/> is when that object was first made, long before it became current again.
    /// </summary>
    public bool Reused { get; init; }
}

/// <summary>
/// Reads which revision a policy's target runs for one series (kubectl: the current ReplicaSet or ControllerRevision;
/// Helm: the latest revision). Reads only; one read is one or two short commands through <see cref="ICommandRunner"/>,
/// never retried here (the caller reads again at its next interval).
/// </summary>
public interface ITargetRevisionReader
{
    /// <summary>
    /// The revision the target rendered with <paramref name="labels"/> runs, or null when its kind has no revisions to read
    /// (webhook, HAProxy, an Argo Rollout). Throws <see cref="ActionFailedException"/> with a readable reason when the
    /// read fails (a name that does not render, kubectl or helm failing, an answer that cannot be read).
    /// </summary>
    ValueTask<TargetRevision?> ReadAsync(Policy policy, LabelSet labels, CancellationToken cancellationToken);
}

/// <summary>The revision readers of the adapters, and what a read concerns.</summary>
public static class TargetRevisionReaders
{
    /// <summary>One reader for every target kind: the kinds <paramref name="readers"/> read (kubectl, Helm); other kinds answer null.</summary>
    public static ITargetRevisionReader Create(params IEnumerable<IRevisionReader> readers)
    {
        ArgumentNullException.ThrowIfNull(readers);
        return new TargetRevisionReader(readers);
    }

    /// <summary>
    /// Registers the <see cref="ITargetRevisionReader"/> over every <see cref="IRevisionReader"/> registered (by
    /// <c>AddKubectlRollback()</c>, <c>AddHelmRollback()</c>), whenever they are registered.
    /// </summary>
    public static IServiceCollection AddTargetRevisionReader(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.TryAddSingleton(sp => Create(sp.GetServices<IRevisionReader>()));
        return services;
    }

    /// <summary>Whether <paramref name="target"/>'s kind has revisions a reader can read (kubectl workloads other than Argo Rollouts, Helm).</summary>
    public static bool CanRead(Target target) => target switch
    {
        KubectlTarget k => k.Workload != WorkloadKind.Rollout,
        HelmTarget => true,
        _ => false,
    };

    /// <summary>
    /// The labels a change of <paramref name="target"/> read for the series <paramref name="series"/> concerns: those its
    /// templates use (<c>{deployment="cart"}</c> for <c>name: "{{ labels.deployment }}"</c>), so the change applies to every
    /// series the same rendered target serves; none for an untemplated target (every series). A webhook's receiver
    /// decides from all the labels it is sent, so a webhook rollback concerns the whole series.
    /// </summary>
    public static LabelSet LabelsFor(Target target, LabelSet series)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(series);
        if (target is WebhookTarget)
        {
            return series;
        }

        var names = LabelNames(target);
        return LabelSet.From(series.Where(l => names.Contains(l.Key)));
    }

    /// <summary>The label names a kubectl or Helm target's templates use (none for an untemplated one, or another kind).</summary>
    public static IReadOnlySet<string> LabelNames(Target target)
    {
        ArgumentNullException.ThrowIfNull(target);
        Template?[] templates = target switch
        {
            KubectlTarget k => [k.Name, k.Namespace],
            HelmTarget h => [h.Release, h.Namespace],
            _ => [],
        };
        return templates.OfType<Template>().SelectMany(t => t.LabelNames).ToHashSet(StringComparer.Ordinal);
    }
}

/// <summary>
/// Reads the revisions of one target kind (<c>kubectl</c>, <c>helm</c>), registered with its adapter; the
/// <see cref="ITargetRevisionReader"/> dispatches to it by <see cref="Kind"/>.
/// </summary>
public interface IRevisionReader
{
    /// <summary>The target kind it reads, as written in policies.</summary>
    string Kind { get; }

    /// <summary>As <see cref="ITargetRevisionReader.ReadAsync"/>, for a target of <see cref="Kind"/> that <see cref="TargetRevisionReaders.CanRead"/>.</summary>
    ValueTask<TargetRevision?> ReadAsync(Target target, LabelSet labels, CancellationToken cancellationToken);
}

/// <summary>Dispatches by target kind.</summary>
internal sealed class TargetRevisionReader(IEnumerable<IRevisionReader> readers) : ITargetRevisionReader
{
    private readonly Dictionary<string, IRevisionReader> _readers = readers.ToDictionary(r => r.Kind, StringComparer.Ordinal);

    public ValueTask<TargetRevision?> ReadAsync(Policy policy, LabelSet labels, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(labels);
        return TargetRevisionReaders.CanRead(policy.Target) && _readers.TryGetValue(policy.Target.Kind, out var reader)
            ? reader.ReadAsync(policy.Target, labels, cancellationToken)
            : ValueTask.FromResult<TargetRevision?>(null);
    }
}
