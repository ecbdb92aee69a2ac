using RollbackSentinel.Actions;
using RollbackSentinel.Actions.HAProxy;
using RollbackSentinel.Actions.Helm;
using RollbackSentinel.Actions.Kubectl;
using RollbackSentinel.Actions.Revisions;
using RollbackSentinel.Actions.Webhook;

namespace RollbackSentinel.Hosting;

/// <summary>The rollback adapters, registered the same way for the daemon and for <c>rollback-sentinel plan</c>.</summary>
internal static class RollbackAdapters
{
    /// <summary>
    /// Registers one <see cref="IRollbackAction"/> per target kind, each by its own <c>AddXxxRollback()</c> (kubectl and Helm
    /// also register their revision readers). Needs a <see cref="TimeProvider"/> registered.
    /// </summary>
    public static IServiceCollection AddRollbackAdapters(this IServiceCollection services, SentinelOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return services
            .AddWebhookRollback()
            .AddHAProxyRollback()
            .AddKubectlRollback(KubectlOptions.Default with { Path = options.Adapters.Kubectl, CommandTimeout = options.CommandTimeoutValue })
            .AddHelmRollback(HelmOptions.Default with { Path = options.Adapters.Helm, CommandTimeout = options.CommandTimeoutValue });
    }

    /// <summary>
    /// Registers the <see cref="ITargetRevisionReader"/> (change detection) over the revision readers of the kubectl and Helm
    /// adapters, registered with the same programs and timeouts by <see cref="AddRollbackAdapters"/>.
    /// </summary>
    public static IServiceCollection AddTargetRevisionReader(this IServiceCollection services, SentinelOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return TargetRevisionReaders.AddTargetRevisionReader(services);
    }
}
