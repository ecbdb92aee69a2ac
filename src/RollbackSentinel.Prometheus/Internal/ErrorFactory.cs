using RollbackSentinel.Core.Metrics;

namespace RollbackSentinel.Prometheus.Internal;

/// <summary>
/// Builds the <see cref="MetricsQueryException"/>s an SRE reads in a verdict or a page: what failed, for
/// which query, against which server, and what the server said. Secrets are masked in everything the
/// server sent back, in case a proxy echoes a header.
/// </summary>
internal sealed class ErrorFactory
{
    private readonly string _server;
    private readonly string[] _secrets;

    public ErrorFactory(Uri baseAddress, IEnumerable<string?> secrets)
    {
        _server = new UriBuilder(baseAddress) { UserName = string.Empty, Password = string.Empty }.Uri.ToString();
        _secrets = secrets.Where(s => !string.IsNullOrEmpty(s)).Select(s => s!).ToArray();
    }

    public MetricsQueryException FromResponse(string query, ApiResponse response)
    {
        var q = QueryText.ForMessage(query);
        var status = response.StatusCode;
        if (status is 401 or 403)
        {
            var verb = status == 401 ? "requires authentication" : "denied access";
            return new MetricsQueryException(
                MetricsErrorKind.Unauthorized,
                query,
                $"Prometheus at {_server} {verb} (HTTP {status}) for query {q}; check the configured bearer token or username/password.")
            {
                StatusCode = status,
                ErrorType = response.ErrorType,
            };
        }

        if (!response.IsEnvelope)
        {
            return NotTheApi(query, status, response.BodyPrefix);
        }

        var error = Mask(response.Error ?? "(no error message)");
        var errorType = response.ErrorType;
        var (kind, text) = errorType switch
        {
            "bad_data" => (MetricsErrorKind.BadQuery, $"Prometheus rejected query {q}: {error}"),
            "timeout" => (MetricsErrorKind.ServerError, $"Prometheus timed out evaluating query {q}: {error}"),
            "canceled" => (MetricsErrorKind.ServerError, $"Prometheus canceled query {q}: {error}"),
            "unavailable" => (MetricsErrorKind.ServerError, $"Prometheus is unavailable for query {q}: {error}"),
            _ => (MetricsErrorKind.ServerError, $"Prometheus failed to execute query {q}: {error}"),
        };
        return new MetricsQueryException(kind, query, $"{text} (errorType {errorType ?? "none"}, HTTP {status}).")
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
            $"Prometheus at {_server} answered HTTP {status} with {body} instead of a Prometheus API response "
            + $"for query {QueryText.ForMessage(query)}; check the base address and any proxy in front of Prometheus.")
        {
            StatusCode = status,
        };
    }

    public MetricsQueryException MalformedResult(string query, int status, string detail, Exception? inner = null) =>
        new(
            MetricsErrorKind.InvalidResponse,
            query,
            $"Prometheus at {_server} returned a result that cannot be used for query {QueryText.ForMessage(query)}: {Mask(detail)}.",
            inner)
        {
            StatusCode = status,
        };

    public MetricsQueryException ResponseTooLarge(string query, int status, long limit) =>
        new(
            MetricsErrorKind.InvalidResponse,
            query,
            $"Prometheus at {_server} answered more than the maxResponseBytes cap of {limit} bytes ({Size(limit)}) for query {QueryText.ForMessage(query)}; "
            + "the rest was not read. Narrow or aggregate the query, or raise prometheus.limits.maxResponseBytes (--prometheus-max-response-bytes).")
        {
            StatusCode = status,
        };

    public MetricsQueryException LimitExceeded(string query, int status, string detail) =>
        new(
            MetricsErrorKind.InvalidResponse,
            query,
            $"Prometheus at {_server} returned a result past a cap for query {QueryText.ForMessage(query)}: {Mask(detail)}.")
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
            $"Prometheus at {_server} {what} for query {QueryText.ForMessage(query)}; redirects are not followed: set the Prometheus URL to the address that answers.")
        {
            StatusCode = status,
        };
    }

    public MetricsQueryException Timeout(string query, TimeSpan timeout, Exception inner) =>
        new(
            MetricsErrorKind.Timeout,
            query,
            $"Prometheus at {_server} did not answer within {timeout.TotalSeconds:0.###} s for query {QueryText.ForMessage(query)}.",
            inner);

    public MetricsQueryException Transport(string query, HttpRequestException inner)
    {
        var garbled = inner.HttpRequestError == HttpRequestError.InvalidResponse;
        var what = garbled ? "sent a malformed HTTP response" : "could not be reached";
        return new MetricsQueryException(
            garbled ? MetricsErrorKind.InvalidResponse : MetricsErrorKind.Unreachable,
            query,
            $"Prometheus at {_server} {what} for query {QueryText.ForMessage(query)}: {Mask(inner.Message)}",
            inner)
        {
            StatusCode = inner.StatusCode is { } code ? (int)code : null,
        };
    }

    private static string Size(long bytes) =>
        bytes >= 1024 * 1024 && bytes % (1024 * 1024) == 0 ? $"{bytes / (1024 * 1024)} MiB"
        : bytes >= 1024 && bytes % 1024 == 0 ? $"{bytes / 1024} KiB"
        : $"{bytes} B";

    private string Mask(string text)
    {
        foreach (var secret in _secrets)
        {
            text = text.Replace(secret, "***", StringComparison.Ordinal);
        }

        return text;
    }
}
