using RollbackSentinel.Core.Metrics;

namespace RollbackSentinel.Core.Policies;

/// <summary>
/// What a rollback for a series would act on: the target with its label templates filled in. Two series
/// that would roll back the same thing share a cooldown; a target without templates is one thing for
/// every series of the policy.
/// </summary>
public static class TargetIdentity
{
    public static string For(Target target, LabelSet labels)
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
        if (parts.Length == 0)
        {
            return target.Kind;
        }

        // A series lacking a label the target needs cannot be rolled back by name; it is its own identity.
        return string.Join(
            "/",
            parts.Select(t => t.TryRender(labels, out var rendered, out _) ? Redact(rendered) : "?" + labels).Prepend(target.Kind));
    }

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
