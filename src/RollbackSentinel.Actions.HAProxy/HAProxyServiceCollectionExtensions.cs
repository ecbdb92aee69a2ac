using Microsoft.Extensions.DependencyInjection;

namespace RollbackSentinel.Actions.HAProxy;

/// <summary>Registers the HAProxy adapter.</summary>
public static class HAProxyServiceCollectionExtensions
{
    /// <summary>
    /// Registers the HAProxy <see cref="IRollbackAction"/> (kind <c>haproxy</c>), talking to runtime APIs as
    /// <paramref name="options"/> say (<see cref="HAProxyOptions.Default"/> when null). Needs a <see cref="TimeProvider"/>.
    /// </summary>
    public static IServiceCollection AddHAProxyRollback(this IServiceCollection services, HAProxyOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        options ??= HAProxyOptions.Default;
        services.AddSingleton<IRollbackAction>(sp => new HAProxyRollbackAction(options, sp.GetRequiredService<TimeProvider>()));
        return services;
    }
}
