using Microsoft.Extensions.DependencyInjection;
using RollbackSentinel.Core.Changes;
using RollbackSentinel.Core.Incidents;
using RollbackSentinel.Hosting;

namespace RollbackSentinel.Cli.Tests.Hosting;

/// <summary>One store for incidents and changes: initialized once at start (as the incident store), usable as the change store.</summary>
public sealed class SentinelStoreTests
{
    [Fact]
    public async Task AddSentinelStore_IncidentAndChangeStore_AreOneInstance_InitializedOnceForBoth()
    {
        var root = Directory.CreateTempSubdirectory("sentinel-store-di-").FullName;
        try
        {
            var services = new ServiceCollection().AddSingleton(TimeProvider.System);
            services.AddSentinelStore(new SentinelOptions { Storage = new SentinelOptions.StorageSettings { Path = Path.Combine(root, "data", "sentinel.db") } });
            await using var provider = services.BuildServiceProvider();
            var incidents = provider.GetRequiredService<IIncidentStore>();
            var changes = provider.GetRequiredService<IChangeStore>();

            await incidents.InitializeAsync(CancellationToken.None);
            var recorded = await changes.RecordChangeAsync(
                new Change { Policy = "shop", At = DateTimeOffset.UnixEpoch, Source = ChangeSource.Api, Revision = "v2", By = "ci" }, CancellationToken.None);

            Assert.Same(incidents, changes);
            Assert.True(recorded.Created);
            Assert.Equal("v2", (await changes.GetChangeAsync(recorded.Change.Id, CancellationToken.None))?.Revision);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }
}
