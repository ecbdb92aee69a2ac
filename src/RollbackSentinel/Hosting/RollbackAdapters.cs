using Microsoft.Extensions.DependencyInjection.Extensions;
using RollbackSentinel.Actions;
using RollbackSentinel.Actions.HAProxy;
using RollbackSentinel.Actions.Helm;
using RollbackSentinel.Actions.Kubectl;
using RollbackSentinel.Actions.Processes;
using RollbackSentinel.Actions.Revisions;
using RollbackSentinel.Actions.Webhook;

namespace RollbackSentinel.Hosting;

/// <summary>The rollback adapters, registered the same way for the daemon and for <c>rollback-sentinel plan</c>.</summary>
internal static class RollbackAdapters
{
    /// <summary>Registers one <see cref="IRollbackAction"/> per target kind. Needs a <see cref="TimeProvider"/> registered.</summary>
    public static IServiceCollection AddRollbackAdapters(this IServiceCollection services, SentinelOptions options)
    {
        // The webhook adapter has its own per-attempt timeout; redirects are refused, not followed.
        services.AddHttpClient<WebhookRollbackAction>(h => h.Timeout = Timeout.InfiniteTimeSpan)
            .ConfigurePrimaryHttpMessageHandler(WebhookRollbackAction.CreateHandler);
        services.AddSingleton<IRollbackAction>(sp => sp.GetRequiredService<WebhookRollbackAction>());
        services.AddSingleton<IRollbackAction>(sp => new HAProxyRollbackAction(HAProxyOptions.Default, sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<ICommandRunner>(new ProcessCommandRunner());
        services.AddSingleton<IRollbackAction>(sp => new KubectlRollbackAction(
            sp.GetRequiredService<ICommandRunner>(),
            KubectlOptions.Default with { Path = options.Adapters.Kubectl, CommandTimeout = options.CommandTimeoutValue },
            sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<IRollbackAction>(sp => new HelmRollbackAction(
            sp.GetRequiredService<ICommandRunner>(),
            new HelmOptions { Path = options.Adapters.Helm, CommandTimeout = options.CommandTimeoutValue },
            sp.GetRequiredService<TimeProvider>()));
        return services;
    }

    /// <summary>Registers the <see cref="ITargetRevisionReader"/> of the kubectl and Helm adapters (change detection), with the same programs and timeouts.</summary>
    public static IServiceCollection AddTargetRevisionReader(this IServiceCollection services, SentinelOptions options)
    {
        services.TryAddSingleton<ICommandRunner>(new ProcessCommandRunner());
        services.AddSingleton(sp => TargetRevisionReaders.Create(
            sp.GetRequiredService<ICommandRunner>(),
            KubectlOptions.Default with { Path = options.Adapters.Kubectl, CommandTimeout = options.CommandTimeoutValue },
            new HelmOptions { Path = options.Adapters.Helm, CommandTimeout = options.CommandTimeoutValue }));
        return services;
    }
}
