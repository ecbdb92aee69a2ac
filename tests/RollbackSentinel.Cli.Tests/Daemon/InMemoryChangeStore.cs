using RollbackSentinel.Core.Changes;
using RollbackSentinel.Core.Metrics;

namespace RollbackSentinel.Cli.Tests.Daemon;

/// <summary>
/// <see cref="IChangeStore"/> in memory, keeping its documented contract: a target or query change whose policy, label set,
/// source and revision are stored already comes back stored (<c>Created = false</c>); API changes are always stored.
/// </summary>
internal sealed class InMemoryChangeStore : IChangeStore
{
    private readonly List<Change> _changes = [];

    public IReadOnlyList<Change> All
    {
        get
        {
            lock (_changes)
            {
                return [.. _changes];
            }
        }
    }

    public Task<RecordedChange> RecordChangeAsync(Change change, CancellationToken cancellationToken)
    {
        lock (_changes)
        {
            if (change.Source != ChangeSource.Api
                && _changes.FirstOrDefault(c => c.Policy == change.Policy && c.Labels.Equals(change.Labels) && c.Source == change.Source && c.Revision == change.Revision) is { } stored)
            {
                return Task.FromResult(new RecordedChange(stored, false));
            }

            var created = change with { Id = _changes.Count + 1 };
            _changes.Add(created);
            return Task.FromResult(new RecordedChange(created, true));
        }
    }

    public Task<IReadOnlyList<Change>> ListChangesAsync(string? policy, DateTimeOffset? since, int limit, CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<Change>>([.. All.Where(c => (policy is null || c.Policy == policy) && (since is null || c.At >= since)).OrderByDescending(c => c.At).ThenByDescending(c => c.Id).Take(limit)]);

    public Task<ChangeHistory> LoadChangeHistoryAsync(string policy, DateTimeOffset since, CancellationToken cancellationToken) =>
        Task.FromResult(new ChangeHistory(All.Where(c => c.Policy == policy)));

    public Task<Change?> GetChangeAsync(long id, CancellationToken cancellationToken) => Task.FromResult(All.FirstOrDefault(c => c.Id == id));

    public IReadOnlyList<Change> Of(string policy, LabelSet? labels = null) => [.. All.Where(c => c.Policy == policy && (labels is null || c.Labels.Equals(labels)))];
}
