using System.Diagnostics.CodeAnalysis;
using RollbackSentinel.Core.Changes;
using RollbackSentinel.Core.Incidents;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Core.State;

namespace RollbackSentinel.Actions;

/// <summary>
/// What an adapter is asked to do: roll back one policy's target for one series. Only what an adapter reads: the
/// target rendered for the series, the labels, the key receivers deduplicate on, the cooldown and decision time
/// (to tell a fresh rollback by another sentinel from an old one), the blamed change, and the evidence a webhook
/// receiver is sent. Built by the host from what it has (a decision, a stored incident, the command line).
/// </summary>
public sealed record RollbackRequest
{
    /// <summary>The policy's name (messages, the webhook's <c>policy</c>, a webhook key's prefix).</summary>
    public required string Policy { get; init; }

    /// <summary>The incident the rollback answers (0 for <c>rollback-sentinel plan</c>, which opens none).</summary>
    public long IncidentId { get; init; }

    /// <summary>The policy's target, its templates rendered for <see cref="Labels"/>.</summary>
    public required RenderedTarget Target { get; init; }

    /// <summary>The series' labels.</summary>
    public required LabelSet Labels { get; init; }

    /// <summary>Stable across retries and restarts: receivers can deduplicate on it.</summary>
    public required string IdempotencyKey { get; init; }

    /// <summary>The policy's cooldown: a rollback by a sentinel younger than this is left as it is.</summary>
    public required TimeSpan Cooldown { get; init; }

    /// <summary>When the rollback was decided (the incident opened).</summary>
    public required DateTimeOffset DecidedAt { get; init; }

    /// <summary>The change the incident blames, or null: none is known.</summary>
    public Change? BlamedChange { get; init; }

    /// <summary>Why: the trigger and its evidence, as receivers are told.</summary>
    public required RollbackEvidence Evidence { get; init; }

    /// <summary>A request for <paramref name="policy"/>'s target and the series <paramref name="labels"/>, its target rendered now.</summary>
    public static RollbackRequest For(Policy policy, LabelSet labels, string idempotencyKey, DateTimeOffset decidedAt, RollbackEvidence evidence)
    {
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(labels);
        return new RollbackRequest
        {
            Policy = policy.Name,
            Target = RenderedTarget.For(policy.Target, labels),
            Labels = labels,
            IdempotencyKey = idempotencyKey,
            Cooldown = policy.Cooldown,
            DecidedAt = decidedAt,
            Evidence = evidence,
        };
    }
}

/// <summary>The trigger and evidence a rollback answers (what a webhook receiver is sent besides the target).</summary>
/// <param name="Trigger">The trigger that fired.</param>
/// <param name="Summary">The sentence that explains the decision ("error ratio 0.09 (1.8/20) &gt; max 0.05").</param>
public sealed record RollbackEvidence(string Trigger, string Summary)
{
    /// <summary>When the breach began, when known.</summary>
    public DateTimeOffset? Since { get; init; }

    public double? Value { get; init; }

    public double? Threshold { get; init; }

    public double? Baseline { get; init; }

    /// <summary>The trigger fired outside every watch window (a rollback then runs only when a person approves it).</summary>
    public bool Disarmed { get; init; }

    public string? DisarmedReason { get; init; }

    /// <summary>From the decision that opened <paramref name="incident"/> (what the incident stored wins).</summary>
    public static RollbackEvidence Of(Decision decision, Incident incident)
    {
        ArgumentNullException.ThrowIfNull(decision);
        ArgumentNullException.ThrowIfNull(incident);
        var disarmedReason = incident.DisarmedReason ?? decision.DisarmedReason;
        return new RollbackEvidence(decision.Trigger, decision.Verdict.Summary)
        {
            Since = decision.Since,
            Value = decision.Verdict.Value,
            Threshold = decision.Verdict.Threshold,
            Baseline = decision.Verdict.Baseline,
            Disarmed = decision.Disarmed || disarmedReason is not null,
            DisarmedReason = disarmedReason,
        };
    }

    /// <summary>From a stored incident only (an action recorded earlier): its trigger, summary and disarming; no values.</summary>
    public static RollbackEvidence Of(Incident incident)
    {
        ArgumentNullException.ThrowIfNull(incident);
        return new RollbackEvidence(incident.Trigger, incident.Summary)
        {
            Disarmed = incident.DisarmedReason is not null,
            DisarmedReason = incident.DisarmedReason,
        };
    }
}

/// <summary>
/// A policy's target with its templates rendered for one series' labels. A template that does not render (a label
/// the series lacks) keeps its error: the adapter says so in its own words when asked to act.
/// </summary>
public sealed record RenderedTarget
{
    /// <summary>The target as the policy writes it (the settings that are not templates: context, timeouts, weights).</summary>
    public required Target Definition { get; init; }

    /// <summary><c>kubectl</c>, <c>helm</c>, <c>haproxy</c>, <c>webhook</c>.</summary>
    public string Kind => Definition.Kind;

    /// <summary>kubectl: the workload's name; helm: the release.</summary>
    public RenderedText? Name { get; init; }

    /// <summary>kubectl, helm: the namespace, when the target names one.</summary>
    public RenderedText? Namespace { get; init; }

    /// <summary>webhook: the URL, with label values URL-escaped (a label cannot add path segments, a query or another host).</summary>
    public RenderedText? Url { get; init; }

    /// <summary>webhook: the policy's own idempotency key, when it sets one.</summary>
    public RenderedText? IdempotencyKey { get; init; }

    /// <summary>Renders every template of <paramref name="target"/> for <paramref name="labels"/>.</summary>
    public static RenderedTarget For(Target target, LabelSet labels)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(labels);
        return target switch
        {
            KubectlTarget k => new RenderedTarget { Definition = k, Name = RenderedText.Render(k.Name, labels), Namespace = RenderedText.Render(k.Namespace, labels) },
            HelmTarget h => new RenderedTarget { Definition = h, Name = RenderedText.Render(h.Release, labels), Namespace = RenderedText.Render(h.Namespace, labels) },
            WebhookTarget w => new RenderedTarget
            {
                Definition = w,
                Url = RenderedText.Render(w.Url, labels, Uri.EscapeDataString),
                IdempotencyKey = RenderedText.Render(w.IdempotencyKey, labels),
            },
            _ => new RenderedTarget { Definition = target },
        };
    }
}

/// <summary>One template rendered for a series' labels: its text, or why it does not render.</summary>
public sealed record RenderedText
{
    /// <summary>The template as written.</summary>
    public required Template Template { get; init; }

    /// <summary>The rendered text; null when it does not render.</summary>
    public string? Text { get; init; }

    /// <summary>Why it does not render (a label the series lacks); null when it does.</summary>
    public string? Error { get; init; }

    /// <summary>The text, or why there is none (the same answer as <see cref="Template.TryRender(LabelSet, out string?, out string?)"/>).</summary>
    public bool TryGet([NotNullWhen(true)] out string? text, [NotNullWhen(false)] out string? error)
    {
        text = Text;
        error = Text is null ? Error ?? $"'{Template}' did not render" : null;
        return Text is not null;
    }

    [return: NotNullIfNotNull(nameof(template))]
    public static RenderedText? Render(Template? template, LabelSet labels, Func<string, string>? encode = null)
    {
        ArgumentNullException.ThrowIfNull(labels);
        if (template is null)
        {
            return null;
        }

        return template.TryRender(labels, encode, out var text, out var error)
            ? new RenderedText { Template = template, Text = text }
            : new RenderedText { Template = template, Error = error };
    }
}
