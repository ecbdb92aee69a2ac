namespace RollbackSentinel.Core.Evaluation;

/// <summary>
/// Supplies query results for one evaluation time. The daemon resolves with instant queries, the backtest
/// from range queries fetched up front; everything after resolution is shared, so both decide alike.
/// </summary>
public interface IQueryResolver
{
    ValueTask<QueryOutcome> ResolveAsync(QuerySpec spec, DateTimeOffset at, CancellationToken cancellationToken);
}
