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

    /// <summary>A URL without credentials or query string (keys live there); anything else as it is.</summary>
    public static string Redact(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return Uri.TryCreate(text, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"
            ? $"{uri.Scheme}://{uri.Host}:{uri.Port}{uri.AbsolutePath}"
            : text;
    }
}
