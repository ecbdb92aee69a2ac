using System.Globalization;
using RollbackSentinel.Actions.Processes;
using RollbackSentinel.Actions.Revisions;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;

namespace RollbackSentinel.Actions.Helm;

/// <summary>
/// Which revision a Helm release is at: the latest one of <c>helm history RELEASE --max 1 -o json</c> (one short call),
/// whatever its status (a failed upgrade changed what runs too; a pending one is changing it): its number, <c>updated</c>
/// time, chart and app version.
/// </summary>
internal sealed class HelmRevisionReader(ICommandRunner runner, HelmOptions options) : IRevisionReader
{
    public string Kind => "helm";

    public ValueTask<TargetRevision?> ReadAsync(Target target, LabelSet labels, CancellationToken cancellationToken) =>
        target is HelmTarget helm
            ? ReadAsync(helm, labels, cancellationToken)
            : throw new ActionFailedException($"the helm revision reader was given a {target?.Kind} target");

    public async ValueTask<TargetRevision?> ReadAsync(HelmTarget target, LabelSet labels, CancellationToken cancellationToken)
    {
        var release = Render(target.Release, labels, "release");
        if (release.Length > HelmRollbackAction.MaxReleaseNameLength || !HelmRollbackAction.ReleaseName().IsMatch(release))
        {
            throw new ActionFailedException($"cannot read the helm release: '{release}' is not a valid Helm release name; nothing was run");
        }

        var args = new List<string> { "history", release };
        string? ns = null;
        if (target.Namespace is { } nsTemplate)
        {
            ns = Render(nsTemplate, labels, "namespace");
            if (ns.Length > HelmRollbackAction.MaxNamespaceLength || !HelmRollbackAction.NamespaceName().IsMatch(ns))
            {
                throw new ActionFailedException($"cannot read the helm release: '{ns}' is not a valid Kubernetes namespace; nothing was run");
            }

            args.AddRange(["--namespace", ns]);
        }

        if (!string.IsNullOrWhiteSpace(target.KubeContext))
        {
            if (target.KubeContext.StartsWith('-') || target.KubeContext.Any(char.IsControl))
            {
                throw new ActionFailedException($"cannot read the helm release: the kube context starts with '-' or holds control characters; nothing was run");
            }

            args.AddRange(["--kube-context", target.KubeContext]);
        }

        args.AddRange(["--max", "1", "-o", "json"]);
        var command = new CommandLine(options.Path, args);
        var output = await runner.RunAsync(command, options.CommandTimeout, cancellationToken).ConfigureAwait(false);
        if (!output.Succeeded)
        {
            throw new ActionFailedException($"cannot read release {release}: '{command}' failed ({output.Reason})");
        }

        var where = ns is null ? $"release {release}" : $"release {release} in {ns}";
        var latest = HelmHistory.Parse(output.StandardOutput, command.ToString()).Latest
            ?? throw new ActionFailedException($"{where} has no revisions");
        var app = latest.AppVersion is { Length: > 0 } v ? $", app version {v}" : "";
        var status = latest.IsDeployed ? "" : $" ({latest.Status}{(latest.Description.Length > 0 ? ": " + latest.Description : "")})";
        return new TargetRevision(
            $"{latest.Revision.ToString(CultureInfo.InvariantCulture)} ({latest.Chart})",
            latest.UpdatedAt,
            $"{where}: chart {latest.Chart}{app}{status}");
    }

    private static string Render(Template template, LabelSet labels, string what)
    {
        if (!template.TryRender(labels, out var text, out var error))
        {
            throw new ActionFailedException($"cannot name the helm {what}: {error}");
        }

        return text.Trim().Length == 0 ? throw new ActionFailedException($"the helm {what} '{template}' renders empty for these labels") : text;
    }
}
