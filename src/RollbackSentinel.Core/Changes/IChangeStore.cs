namespace RollbackSentinel.Core.Changes;

/// <summary>A change as stored, and whether this call stored it or found it stored already.</summary>
public sealed record RecordedChange(Change Change, bool Created);

/// <summary>Where changes are kept (the daemon's store): recorded once, listed for the API, read back for every decision.</summary>
public interface IChangeStore
{
    /// <summary>
    /// Stores a change and returns it with its id. A <see cref="ChangeSource.Target"/> or <see cref="ChangeSource.Query"/>
    /// change whose policy, label set, source and revision are stored already is not stored again: the stored one comes
    /// back with <c>Created = false</c> (a revision seen before is not a new change). API changes are always stored.
    /// </summary>
    Task<RecordedChange> RecordChangeAsync(Change change, CancellationToken cancellationToken);

    /// <summary>Changes, newest first: of <paramref name="policy"/> when given, at or after <paramref name="since"/> when given, at most <paramref name="limit"/>.</summary>
    Task<IReadOnlyList<Change>> ListChangesAsync(string? policy, DateTimeOffset? since, int limit, CancellationToken cancellationToken);

    /// <summary>
    /// What decisions about <paramref name="policy"/> are judged against: for each label set it has changes for, the
    /// latest ones (at least those at or after <paramref name="since"/>, and the latest of each label set before it).
    /// </summary>
    Task<ChangeHistory> LoadChangeHistoryAsync(string policy, DateTimeOffset since, CancellationToken cancellationToken);

    /// <summary>A change by id, or null.</summary>
    Task<Change?> GetChangeAsync(long id, CancellationToken cancellationToken);
}
