using System.Globalization;
using System.Net.Http.Headers;
using RollbackSentinel.Backends.Http;
using RollbackSentinel.Core.Metrics;

namespace RollbackSentinel.Backends.Datadog;

/// <summary>
/// Datadog as a metrics source: each query is one <c>GET /api/v1/query</c> over a window, and the points Datadog answers
/// are sampled at the instants asked for (<see cref="PointSampling"/>): the value at t is the newest non-null point in
/// (t - lookback, t].
/// </summary>
/// <remarks>
/// A 429 is not retried: the query fails with the time the limit resets, and the next evaluation tries again, so a
/// rate-limited organization is not sent a burst of retries by every rule.
/// </remarks>
internal sealed class DatadogSource : IMetricsSource, IQueryChecker
{
    /// <summary>The window <see cref="CheckSyntaxAsync"/> queries: short, so a valid query costs Datadog little.</summary>
    internal static readonly TimeSpan SyntaxCheckWindow = TimeSpan.FromMinutes(1);

    private readonly IDatadogApi _api;
    private readonly DatadogOptions _options;
    private readonly TimeProvider _time;
    private readonly BackendErrors _errors;

    public DatadogSource(IDatadogApi api, DatadogOptions options, TimeProvider time)
    {
        _api = api;
        _options = options;
        _time = time;
        _errors = new BackendErrors(options.BaseAddress, options.Secrets(), "Datadog", options.LimitsKey);
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<Sample>> QueryAsync(string query, DateTimeOffset time, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(query);
        var answer = await SendAsync(query, time - _options.Lookback, time, cancellationToken).ConfigureAwait(false);
        return PointSampling.ValuesAt(Read(query, answer), time, _options.Lookback);
    }

    /// <inheritdoc />
    /// <remarks>
    /// One request from start - lookback (so the first instant has its lookback too) to end: Datadog documents no
    /// longest window for <c>/api/v1/query</c>, it answers a long one with coarser points (a longer rollup interval).
    /// </remarks>
    public async Task<IReadOnlyList<RangeSeries>> QueryRangeAsync(
        string query, DateTimeOffset start, DateTimeOffset end, TimeSpan step, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(query);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(step, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(end, start);
        var answer = await SendAsync(query, start - _options.Lookback, end, cancellationToken).ConfigureAwait(false);
        return PointSampling.ResampleAll(Read(query, answer), start, end, step, _options.Lookback);
    }

    /// <summary>
    /// Queries the last minute: null when Datadog answers, else what Datadog's 400 says is wrong with the query (e.g.
    /// <c>Error parsing query: ...</c>). Anything else (bad keys, rate limit, unreachable) throws.
    /// </summary>
    public async Task<string?> CheckSyntaxAsync(string query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        var now = _time.GetUtcNow();
        var answer = await SendAsync(query, now - SyntaxCheckWindow, now, cancellationToken).ConfigureAwait(false);
        if (RejectedQueryMessage(answer) is { } message)
        {
            return _errors.Mask(message);
        }

        _ = Read(query, answer);
        return null;
    }

    private Task<BackendAnswer> SendAsync(string query, DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken) =>
        BackendHttp.SendAsync(
            ct => _api.QueryAsync(FloorSeconds(from), CeilingSeconds(to), query, _options.ApiKey, _options.ApplicationKey, ct),
            _options.BaseAddress,
            query,
            _errors,
            _options.Timeout,
            _options.MaxResponseBytes,
            cancellationToken);

    /// <summary>The series of a successful answer; every other answer throws the <see cref="MetricsQueryException"/> it means.</summary>
    private IReadOnlyList<RangeSeries> Read(string query, BackendAnswer answer)
    {
        var status = answer.Status;
        if (status is 401 or 403)
        {
            throw Unauthorized(query, answer);
        }

        if (status == 429)
        {
            throw RateLimited(query, answer);
        }

        if (RejectedQueryMessage(answer) is { } rejected)
        {
            throw _errors.Rejected(query, status, MetricsErrorKind.BadQuery, rejected);
        }

        if (status is < 200 or >= 300)
        {
            throw DatadogResponseReader.ErrorMessage(answer.Body) is { } said
                ? _errors.Rejected(query, status, MetricsErrorKind.ServerError, OneLine(said))
                : _errors.NotTheApi(query, status, BodyPrefix(answer.Body));
        }

        try
        {
            return DatadogResponseReader.ReadSeries(answer.Body, _options.MaxSeries, _options.MaxLabelLength, _options.LimitsKey);
        }
        catch (FormatException ex)
        {
            throw _errors.MalformedResult(query, status, ex.Message, ex);
        }
        catch (DatadogLimitException ex)
        {
            throw _errors.LimitExceeded(query, status, ex.Message);
        }
    }

    /// <summary>
    /// Datadog's message when it refused the query itself: a 400 with an error body, or a 200 whose status is "error".
    /// Whitespace is collapsed: Datadog's parse errors hold line breaks, and the message goes into one log line.</summary>
    private static string? RejectedQueryMessage(BackendAnswer answer) =>
        answer.Status is 400 or (>= 200 and < 300) && DatadogResponseReader.ErrorMessage(answer.Body) is { } message ? OneLine(message) : null;

    private MetricsQueryException Unauthorized(string query, BackendAnswer answer)
    {
        var said = DatadogResponseReader.ErrorMessage(answer.Body) is { } text ? $" ({_errors.Mask(OneLine(text))})" : string.Empty;
        var verb = answer.Status == 401 ? "requires authentication" : "denied access";
        return new MetricsQueryException(
            MetricsErrorKind.Unauthorized,
            query,
            $"Datadog at {_errors.Server} {verb} (HTTP {answer.Status}){said} for query {QueryText.ForMessage(query)}; check the API key "
            + "(DD-API-KEY) and the application key (DD-APPLICATION-KEY): both must belong to an organization on this site, and the "
            + "application key needs the timeseries_query permission.")
        {
            StatusCode = answer.Status,
        };
    }

    private MetricsQueryException RateLimited(string query, BackendAnswer answer)
    {
        var reset = Header(answer.Headers, "X-RateLimit-Reset");
        var limit = Header(answer.Headers, "X-RateLimit-Limit");
        var period = Header(answer.Headers, "X-RateLimit-Period");
        var when = reset is null ? "Datadog did not say when it resets (no X-RateLimit-Reset)" : $"it resets in {reset} s";
        var which = limit is not null && period is not null ? $" of {limit} queries per {period} s" : string.Empty;
        return new MetricsQueryException(
            MetricsErrorKind.ServerError,
            query,
            $"Datadog at {_errors.Server} rate-limited query {QueryText.ForMessage(query)} (HTTP 429): the organization's query rate limit{which} "
            + $"is used up and {when}. Not retried: the next evaluation tries again.")
        {
            StatusCode = 429,
        };
    }

    /// <summary>A rate-limit header as a number; null when absent or not a number (never echoes arbitrary text).</summary>
    private static string? Header(HttpResponseHeaders headers, string name) =>
        headers.TryGetValues(name, out var values)
        && values.FirstOrDefault() is { } value
        && long.TryParse(value.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var number)
            ? number.ToString(CultureInfo.InvariantCulture)
            : null;

    private static string BodyPrefix(ReadOnlyMemory<byte> body)
    {
        var oneLine = OneLine(System.Text.Encoding.UTF8.GetString(body.Span[..Math.Min(body.Length, 400)]));
        return oneLine.Length <= 200 ? oneLine : oneLine[..200] + "...";
    }

    private static string OneLine(string text) => string.Join(' ', text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));

    private static long FloorSeconds(DateTimeOffset t) => (long)Math.Floor(t.ToUnixTimeMilliseconds() / 1000d);

    private static long CeilingSeconds(DateTimeOffset t) => (long)Math.Ceiling(t.ToUnixTimeMilliseconds() / 1000d);
}
