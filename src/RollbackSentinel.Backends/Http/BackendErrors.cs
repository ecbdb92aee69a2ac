using RollbackSentinel.Core.Metrics;

namespace RollbackSentinel.Backends.Http;

/// <summary>
/// Builds the <see cref="MetricsQueryException"/>s an SRE reads in a verdict or a page: what failed, for
/// which query, against which server, and what the server said. Secrets are masked in everything the
/// server sent back, in case a proxy echoes a header.
/// </summary>
internal sealed class BackendErrors
{
    private readonly string _server;
    private readonly string[] _secrets;
    private readonly string _backend;
    private readonly string _limitsKey;

    /// <param name="baseAddress">The server, named in every message (without user info).</param>
    /// <param name="secrets">Masked in everything the server sent back.</param>
    /// <param name="backend">The kind of server as people call it: Prometheus, VictoriaMetrics, Graphite, InfluxDB, Datadog.</param>
    /// <param name="limitsKey">The settings key of the limits, for the "raise it" hint (<c>prometheus.limits</c>, <c>backends.NAME.limits</c>).</param>
    public BackendErrors(Uri baseAddress, IEnumerable<string?> secrets, string backend = "Prometheus", string limitsKey = "prometheus.limits")
    {
        _server = new UriBuilder(baseAddress) { UserName = string.Empty, Password = string.Empty }.Uri.ToString();
        _secrets = secrets.Where(s => !string.IsNullOrEmpty(s)).Select(s => s!).ToArray();
        _backend = backend;
        _limitsKey = limitsKey;
    }

    /// <summary>The server as messages name it (no user info).</summary>
    public string Server => _server;

    /// <summary>The kind of server as messages name it.</summary>
    public string Backend => _backend;

    /// <summary>An error answer of the Prometheus HTTP API (Prometheus, VictoriaMetrics and other compatible servers).</summary>
    /// <param name="isEnvelope">The body was the API's JSON envelope; otherwise <paramref name="bodyPrefix"/> is what came instead.</param>
    public MetricsQueryException FromPrometheusApi(string query, int status, bool isEnvelope, string? error, string? errorType, string bodyPrefix)
    {
        if (status is 401 or 403)
        {
            return Unauthorized(query, status, errorType);
        }

        if (!isEnvelope)
        {
            return NotTheApi(query, status, bodyPrefix);
        }

        var q = QueryText.ForMessage(query);
        var text = Mask(error ?? "(no error message)");
        var (kind, what) = errorType switch
        {
            "bad_data" => (MetricsErrorKind.BadQuery, $"{_backend} rejected query {q}: {text}"),
            "timeout" => (MetricsErrorKind.ServerError, $"{_backend} timed out evaluating query {q}: {text}"),
            "canceled" => (MetricsErrorKind.ServerError, $"{_backend} canceled query {q}: {text}"),
            "unavailable" => (MetricsErrorKind.ServerError, $"{_backend} is unavailable for query {q}: {text}"),
            _ => (MetricsErrorKind.ServerError, $"{_backend} failed to execute query {q}: {text}"),
        };
        return new MetricsQueryException(kind, query, $"{what} (errorType {errorType ?? "none"}, HTTP {status}).")
        {
            StatusCode = status,
            ErrorType = errorType,
        };
    }

    /// <summary>401 or 403: the credentials are missing, wrong, or not allowed this query.</summary>
    public MetricsQueryException Unauthorized(string query, int status, string? errorType = null)
    {
        var verb = status == 401 ? "requires authentication" : "denied access";
        return new MetricsQueryException(
            MetricsErrorKind.Unauthorized,
            query,
            $"{_backend} at {_server} {verb} (HTTP {status}) for query {QueryText.ForMessage(query)}; check the configured credentials.")
        {
            StatusCode = status,
            ErrorType = errorType,
        };
    }

    /// <summary>
    /// The server said why it would not answer (a backend's own error body): <see cref="MetricsErrorKind.BadQuery"/>
    /// for a query it cannot parse or run, <see cref="MetricsErrorKind.ServerError"/> for its own failures.
    /// </summary>
    public MetricsQueryException Rejected(string query, int status, MetricsErrorKind kind, string serverSaid, string? errorType = null)
    {
        var q = QueryText.ForMessage(query);
        var what = kind == MetricsErrorKind.BadQuery ? $"{_backend} rejected query {q}" : $"{_backend} failed to execute query {q}";
        return new MetricsQueryException(kind, query, $"{what}: {Mask(serverSaid)} (HTTP {status}).")
        {
            StatusCode = status,
            ErrorType = errorType,
        };
    }

    public MetricsQueryException NotTheApi(string query, int status, string bodyPrefix)
    {
        var body = bodyPrefix.Length == 0 ? "an empty body" : $"\"{Mask(bodyPrefix)}\"";
        // A 5xx page from a proxy (502, 503, 504) is a passing failure of the path to Prometheus, not a wrong
        // address: it becomes an error verdict and the next evaluation tries again.
        return new MetricsQueryException(
            status >= 500 ? MetricsErrorKind.ServerError : MetricsErrorKind.InvalidResponse,
            query,
            $"{_backend} at {_server} answered HTTP {status} with {body} instead of a {_backend} API response "
            + $"for query {QueryText.ForMessage(query)}; check the base address and any proxy in front of {_backend}.")
        {
            StatusCode = status,
        };
    }

    public MetricsQueryException MalformedResult(string query, int status, string detail, Exception? inner = null) =>
        new(
            MetricsErrorKind.InvalidResponse,
            query,
            $"{_backend} at {_server} returned a result that cannot be used for query {QueryText.ForMessage(query)}: {Mask(detail)}.",
            inner)
        {
            StatusCode = status,
        };

    public MetricsQueryException ResponseTooLarge(string query, int status, long limit) =>
        new(
            MetricsErrorKind.InvalidResponse,
            query,
            $"{_backend} at {_server} answered more than the maxResponseBytes cap of {limit} bytes ({Size(limit)}) for query {QueryText.ForMessage(query)}; "
            + $"the rest was not read. Narrow or aggregate the query, or raise {_limitsKey}.maxResponseBytes.")
        {
            StatusCode = status,
        };

    public MetricsQueryException LimitExceeded(string query, int status, string detail) =>
        new(
            MetricsErrorKind.InvalidResponse,
            query,
            $"{_backend} at {_server} returned a result past a cap for query {QueryText.ForMessage(query)}: {Mask(detail)}.")
        {
            StatusCode = status,
        };

    /// <summary>
    /// Prometheus answered with a redirect, or the HTTP handler followed one: the answer of another server (or of
    /// none) is never used, and a query is not re-posted to an address nobody configured.
    /// </summary>
    public MetricsQueryException Redirected(string query, int status, Uri? location, bool followed)
    {
        var where = location is null ? "no Location"
            : location.IsAbsoluteUri ? $"{location.Scheme}://{location.Authority}{location.AbsolutePath}"
            : location.OriginalString.Split('?', '#')[0];
        var what = followed ? $"redirected the query to {Mask(where)}" : $"answered HTTP {status} redirecting to {Mask(where)}";
        return new MetricsQueryException(
            MetricsErrorKind.InvalidResponse,
            query,
            $"{_backend} at {_server} {what} for query {QueryText.ForMessage(query)}; redirects are not followed: set the {_backend} URL to the address that answers.")
        {
            StatusCode = status,
        };
    }

    public MetricsQueryException Timeout(string query, TimeSpan timeout, Exception inner) =>
        new(
            MetricsErrorKind.Timeout,
            query,
            $"{_backend} at {_server} did not answer within {timeout.TotalSeconds:0.###} s for query {QueryText.ForMessage(query)}.",
            inner);

    public MetricsQueryException Transport(string query, HttpRequestException inner)
    {
        var garbled = inner.HttpRequestError == HttpRequestError.InvalidResponse;
        var what = garbled ? "sent a malformed HTTP response" : "could not be reached";
        return new MetricsQueryException(
            garbled ? MetricsErrorKind.InvalidResponse : MetricsErrorKind.Unreachable,
            query,
            $"{_backend} at {_server} {what} for query {QueryText.ForMessage(query)}: {Mask(inner.Message)}",
            inner)
        {
            StatusCode = inner.StatusCode is { } code ? (int)code : null,
        };
    }

    private static string Size(long bytes) =>
        bytes >= 1024 * 1024 && bytes % (1024 * 1024) == 0 ? $"{bytes / (1024 * 1024)} MiB"
        : bytes >= 1024 && bytes % 1024 == 0 ? $"{bytes / 1024} KiB"
        : $"{bytes} B";

    /// <summary>The text with every secret replaced by ***.</summary>
    public string Mask(string text)
    {
        foreach (var secret in _secrets)
        {
            text = text.Replace(secret, "***", StringComparison.Ordinal);
        }

        return text;
    }
}
