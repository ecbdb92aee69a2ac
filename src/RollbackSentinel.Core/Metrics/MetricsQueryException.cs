namespace RollbackSentinel.Core.Metrics;

/// <summary>Why a query failed. Each kind maps to a clear message and an <c>error</c> verdict.</summary>
public enum MetricsErrorKind
{
    /// <summary>The server could not be reached (connection refused, DNS, TLS).</summary>
    Unreachable,

    /// <summary>The request did not complete within its timeout.</summary>
    Timeout,

    /// <summary>The server rejected the query itself (PromQL syntax or semantics: Prometheus <c>bad_data</c>).</summary>
    BadQuery,

    /// <summary>The server failed to execute the query (5xx, <c>execution</c>, <c>timeout</c>, <c>canceled</c>, <c>internal</c>).</summary>
    ServerError,

    /// <summary>The server answered something that is not a valid Prometheus API response.</summary>
    InvalidResponse,

    /// <summary>Authentication or authorization failed (401/403).</summary>
    Unauthorized,
}

/// <summary>A failed metrics query, with the query and what the server said.</summary>
public sealed class MetricsQueryException : Exception
{
    public MetricsQueryException(MetricsErrorKind kind, string query, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        Kind = kind;
        Query = query;
    }

    public MetricsErrorKind Kind { get; }

    public string Query { get; }

    /// <summary>The HTTP status code when the server answered, else null.</summary>
    public int? StatusCode { get; init; }

    /// <summary>Prometheus' <c>errorType</c> (bad_data, execution, timeout, ...) when the body carried one.</summary>
    public string? ErrorType { get; init; }
}
