using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using RollbackSentinel.Actions.Processes;
using RollbackSentinel.Actions.Revisions;

namespace RollbackSentinel.Actions.Kubectl;

/// <summary>Registers the kubectl adapter.</summary>
public static class KubectlServiceCollectionExtensions
{
    /// <summary>
    /// Registers the kubectl <see cref="IRollbackAction"/> (kind <c>kubectl</c>) and its <see cref="IRevisionReader"/>,
    /// running kubectl as <paramref name="options"/> say (<see cref="KubectlOptions.Default"/> when null) through the
    /// registered <see cref="ICommandRunner"/> (a <see cref="ProcessCommandRunner"/> unless one is). Needs a <see cref="TimeProvider"/>.
    /// </summary>
    public static IServiceCollection AddKubectlRollback(this IServiceCollection services, KubectlOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        options ??= KubectlOptions.Default;
        services.TryAddSingleton<ICommandRunner>(new ProcessCommandRunner());
        services.AddSingleton<IRollbackAction>(sp => new KubectlRollbackAction(sp.GetRequiredService<ICommandRunner>(), options, sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<IRevisionReader>(sp => new KubectlRevisionReader(sp.GetRequiredService<ICommandRunner>(), options));
        return services;
    }
}
