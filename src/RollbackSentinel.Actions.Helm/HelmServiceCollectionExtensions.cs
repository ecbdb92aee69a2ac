using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using RollbackSentinel.Actions.Processes;
using RollbackSentinel.Actions.Revisions;

namespace RollbackSentinel.Actions.Helm;

/// <summary>Registers the Helm adapter.</summary>
public static class HelmServiceCollectionExtensions
{
    /// <summary>
    /// Registers the Helm <see cref="IRollbackAction"/> (kind <c>helm</c>) and its <see cref="IRevisionReader"/>, running
    /// helm as <paramref name="options"/> say (<see cref="HelmOptions.Default"/> when null) through the registered
    /// <see cref="ICommandRunner"/> (a <see cref="ProcessCommandRunner"/> unless one is). Needs a <see cref="TimeProvider"/>.
    /// </summary>
    public static IServiceCollection AddHelmRollback(this IServiceCollection services, HelmOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        options ??= HelmOptions.Default;
        services.TryAddSingleton<ICommandRunner>(new ProcessCommandRunner());
        services.AddSingleton<IRollbackAction>(sp => new HelmRollbackAction(sp.GetRequiredService<ICommandRunner>(), options, sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<IRevisionReader>(sp => new HelmRevisionReader(sp.GetRequiredService<ICommandRunner>(), options));
        return services;
    }
}
