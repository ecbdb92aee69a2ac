using RollbackSentinel.Core.Metrics;

namespace RollbackSentinel.Core.Policies;

/// <summary>
/// What a rollback for a series acts on, as one string: the target with its label templates rendered. It keys
/// cooldowns (<see cref="State.PolicyState.LastActionAt"/>), the "already rolled back since" check of held and
/// pending rollbacks, and is shown in records. Things that can be named are identified by what they are, so two
/// policies guarding the same Deployment, release or HAProxy backend share the check; a webhook is identified by
/// its policy too, because what the receiver rolls back is only known to it (from the policy, trigger and
/// labels it is sent), and one receiver commonly serves many policies.
/// </summary>
public static class TargetIdentity
{
    /// <summary>The identity of what <paramref name="policy"/> rolls back for the series <paramref name="labels"/>.</summary>
    /// <example>
    /// <c>kubectl/prod/shop/deployment/checkout</c> (context, namespace, kind, name; <c>-</c> for a context or
    /// namespace left to the kubeconfig), <c>helm/-/shop/checkout</c>, <c>haproxy/tcp://127.0.0.1:9999/app</c>,
    /// <c>webhook/checkout/https://deploy.example.com:443/rollback</c> (policy, redacted URL, and the rendered
    /// idempotency key when the target sets one).
    /// </example>
    public static string For(Policy policy, LabelSet labels)
    {
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(labels);
        string[] parts = policy.Target switch
        {
            WebhookTarget w => w.IdempotencyKey is { } key
                ? [policy.Name, Redact(Render(w.Url, labels)), "key=" + Render(key, labels)]
                : [policy.Name, Redact(Render(w.Url, labels))],
            KubectlTarget k => [k.Context ?? "-", Render(k.Namespace, labels), k.Workload.ToString().ToLowerInvariant(), Render(k.Name, labels)],
            HelmTarget h => [h.KubeContext ?? "-", Render(h.Namespace, labels), Render(h.Release, labels)],
            HAProxyTarget x => [Redact(x.RuntimeApi.ToString()).TrimEnd('/'), x.Backend],
            _ => [policy.Name],
        };
        return string.Join("/", parts.Prepend(policy.Target.Kind));
    }

    /// <summary>
    /// The identity versions before issue 11 wrote (only the target's kind and its rendered templates, e.g.
    /// <c>kubectl/checkout/shop</c>, <c>webhook</c>). Cooldowns and held rollbacks recorded under it are still read
    /// after an upgrade, so a cooldown running at the upgrade still holds back a second rollback; such keys expire
    /// with their cooldown.
    /// </summary>
    public static string Legacy(Target target, LabelSet labels)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(labels);
        Template?[] templates = target switch
        {
            WebhookTarget w => [w.Url],
            KubectlTarget k => [k.Name, k.Namespace],
            HelmTarget h => [h.Release, h.Namespace],
            _ => [],
        };

        var parts = templates.OfType<Template>().Where(t => !t.IsConstant).ToArray();
        return parts.Length == 0
            ? target.Kind
            : string.Join("/", parts.Select(t => t.TryRender(labels, out var rendered, out _) ? Redact(rendered) : "?" + labels).Prepend(target.Kind));
    }

    // A series lacking a label the target needs cannot be rolled back by name; it is its own identity.
    private static string Render(Template? template, LabelSet labels) =>
        template is null ? "-"
        : template.TryRender(labels, out var rendered, out _) ? rendered
        : "?" + labels;

    /// <summary>
    /// A URL without credentials, query string or fragment, and with its path cut after the first segment
    /// (Slack-style hooks carry their secret in the path): the rest is replaced by a short hash of it, so two
    /// URLs stay apart without either being shown. Anything else as it is.
    /// </summary>
    public static string Redact(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
        {
            return text;
        }

        var path = uri.AbsolutePath;
        var second = path.IndexOf('/', 1);
        if (second > 0 && second < path.Length - 1)
        {
            var hash = Fnv1a(path).ToString("x8", System.Globalization.CultureInfo.InvariantCulture);
            path = $"{path[..second]}/…#{hash}";
        }

        return $"{uri.Scheme}://{uri.Host}:{uri.Port}{path}";
    }

    /// <summary>FNV-1a (32 bits): stable across processes and versions, enough to tell two paths apart.</summary>
    private static uint Fnv1a(string text)
    {
        var hash = 2166136261u;
        foreach (var c in text)
        {
            hash = (hash ^ c) * 16777619u;
        }

        return hash;
    }
}
