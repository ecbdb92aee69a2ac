namespace RollbackSentinel.Core.Metrics;

/// <summary>
/// A backend that can say whether it understands a query without evaluating it over real data (<c>validate --backend-check</c>).
/// </summary>
public interface IQueryChecker
{
    /// <summary>
    /// Null when the backend accepts <paramref name="query"/>, else what it says is wrong with it. Any other failure (the
    /// server cannot be reached, refuses the credentials) throws <see cref="MetricsQueryException"/>: it says nothing about the query.
    /// </summary>
    Task<string?> CheckSyntaxAsync(string query, CancellationToken cancellationToken);
}
