using RollbackSentinel.Core.Changes;
using RollbackSentinel.Core.Incidents;
using RollbackSentinel.Storage;

namespace RollbackSentinel.Hosting;

/// <summary>The store: one SQLite file, one instance, serving both incidents and changes; and the incident rules over it.</summary>
internal static class SentinelStore
{
    /// <summary>
    /// Registers the store once as <see cref="IIncidentStore"/> and <see cref="IChangeStore"/>: the same singleton, so
    /// its in-process write gate covers both and it is initialized once (at start-up, through <see cref="IIncidentStore"/>).
    /// Every incident write goes through the one <see cref="IncidentService"/> over it, owned by this sentinel's
    /// <c>node.id</c> (the leases it takes).
    /// </summary>
    public static IServiceCollection AddSentinelStore(this IServiceCollection services, SentinelOptions options)
    {
        services.AddSingleton(sp => new SqliteIncidentStore(options.Storage.Path, sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<IIncidentStore>(sp => sp.GetRequiredService<SqliteIncidentStore>());
        services.AddSingleton<IChangeStore>(sp => sp.GetRequiredService<SqliteIncidentStore>());
        services.AddSingleton(sp => new IncidentService(
            sp.GetRequiredService<IIncidentStore>(),
            sp.GetRequiredService<IChangeStore>(),
            sp.GetRequiredService<TimeProvider>(),
            options.Node.Id));
        return services;
    }
}
