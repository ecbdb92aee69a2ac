using RollbackSentinel.Core.Changes;
using RollbackSentinel.Core.Metrics;

namespace RollbackSentinel.Core.Tests.Support;

/// <summary>Builders for change records, so each test states only what matters to it.</summary>
internal static class Changes
{
    public static Change Deploy(DateTimeOffset at, string revision = "v42", string? from = "v41", LabelSet? labels = null, long id = 1, string policy = "checkout-api", string? by = "ci") => new()
    {
        Id = id,
        Policy = policy,
        Labels = labels ?? LabelSet.Empty,
        At = at,
        Source = ChangeSource.Api,
        Revision = revision,
        PreviousRevision = from,
        By = by,
    };

    /// <summary>The sentinel's own rollback, as the target reads it back.</summary>
    public static Change SentinelRollback(DateTimeOffset at, LabelSet? labels = null, long id = 2, string policy = "checkout-api") => new()
    {
        Id = id,
        Policy = policy,
        Labels = labels ?? LabelSet.Empty,
        At = at,
        Source = ChangeSource.Target,
        Revision = "v41",
        PreviousRevision = "v42",
        By = Change.SentinelActor,
    };

    public static ChangeHistory History(params Change[] changes) => new(changes);
}
