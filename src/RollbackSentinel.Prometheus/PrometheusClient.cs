using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using RollbackSentinel.Backends.Http;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Prometheus.Internal;

namespace RollbackSentinel.Prometheus;

/// <summary>
/// A typed client over Prometheus' HTTP API (<c>/api/v1/query</c>, <c>/api/v1/query_range</c>).
/// Every failure surfaces as a <see cref="MetricsQueryException"/>, except cancellation by the caller,
/// which propagates as <see cref="OperationCanceledException"/>.
/// </summary>
/// <remarks>
/// The <see cref="HttpClient"/> is used as given; its own <see cref="HttpClient.Timeout"/> (100 s by
/// default) still applies, so keep it at least <see cref="PrometheusOptions.Timeout"/>. Give it the handler
/// of <see cref="CreateHandler"/>, which follows no redirect; an answer that still arrives through a redirect
/// is an error, never used.
/// </remarks>
public sealed partial class PrometheusClient : IMetricsSource, IQueryChecker
{
    /// <summary>
    /// Where <see cref="CheckSyntaxAsync"/> evaluates: the Unix epoch, which holds no data, so a valid
    /// query costs Prometheus next to nothing.
    /// </summary>
    private const long SyntaxCheckInstantMs = 0;

    private static readonly KeyValuePair<string, string>[] NoCache = [new("nocache", "1")];

    private const string QueryParameterPrefix = "invalid parameter \"query\": ";

    private readonly PrometheusOptions _options;
    private readonly Uri _root;
    private readonly IPrometheusApi _api;
    private readonly Dictionary<string, string> _headers;
    private readonly BackendErrors _errors;
    private readonly ResultLimits _limits;
    private int _requestCount;

    public PrometheusClient(HttpClient httpClient, PrometheusOptions options)
    {
        ArgumentNullException.ThrowIfNull(httpClient);
        ArgumentNullException.ThrowIfNull(options);
        var problems = options.Validate();
        if (problems.Count > 0)
        {
            throw new ArgumentException("Invalid Prometheus options: " + string.Join(" ", problems), nameof(options));
        }

        _options = options;
        _limits = ResultLimits.From(options);

        // Relative resolution against "http://host/prefix" would drop "prefix"; a trailing slash keeps it.
        _root = options.BaseAddress.AbsoluteUri.EndsWith('/') ? options.BaseAddress : new Uri(options.BaseAddress.AbsoluteUri + "/");
        _api = RefitClients.For<IPrometheusApi>(httpClient, _root);

        _headers = options.RequestHeaders(out var basicCredential);
        _errors = new BackendErrors(options.BaseAddress, [.. options.Secrets(), basicCredential], options.ServerKind, options.LimitsKey);
    }

    /// <summary>
    /// The handler to build the client's <see cref="HttpClient"/> on: it follows no redirect, so a query is never
    /// re-posted to another server (with its credentials or not).
    /// </summary>
    public static HttpMessageHandler CreateHandler() => BackendHttp.CreateHandler();

    /// <summary>HTTP requests sent so far, including failed ones. Safe to read from any thread.</summary>
    public int RequestCount => Volatile.Read(ref _requestCount);

    /// <inheritdoc />
    public Task<IReadOnlyList<Sample>> QueryAsync(string query, DateTimeOffset time, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(query);
        return PostAsync(
            false,
            query,
            [new("query", query), new("time", PrometheusFormat.FormatSeconds(time.ToUnixTimeMilliseconds()))],
            response =>
            {
                var data = SuccessData(query, response);
                var type = ResultReader.ResultType(data);
                return type switch
                {
                    "vector" or "scalar" => ResultReader.ReadInstant(data, type, _limits),
                    "matrix" => throw _errors.MalformedResult(
                        query,
                        response.StatusCode,
                        "it is a range vector (matrix); an instant query must yield an instant vector or a scalar, e.g. wrap the selector in rate()"),
                    _ => throw _errors.MalformedResult(
                        query, response.StatusCode, $"it is a {type}; an instant query must yield an instant vector or a scalar"),
                };
            },
            cancellationToken);
    }

    /// <inheritdoc />
    /// <remarks>
    /// Windows longer than <see cref="RangeWindows.MaxPointsPerRequest"/> points are fetched in several
    /// requests, one after another, and merged; the timestamps are still exactly start + k*step.
    /// Timestamps and step are used at millisecond resolution, as Prometheus does.
    /// </remarks>
    public async Task<IReadOnlyList<RangeSeries>> QueryRangeAsync(
        string query, DateTimeOffset start, DateTimeOffset end, TimeSpan step, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(query);
        var stepMs = (long)step.TotalMilliseconds;
        ArgumentOutOfRangeException.ThrowIfLessThan(stepMs, 1, nameof(step));
        var startMs = start.ToUnixTimeMilliseconds();
        var endMs = end.ToUnixTimeMilliseconds();
        ArgumentOutOfRangeException.ThrowIfLessThan(endMs, startMs, nameof(end));

        var windows = new List<List<ParsedSeries>>();
        foreach (var (windowStart, windowEnd) in RangeWindows.Split(startMs, endMs, stepMs))
        {
            windows.Add(await PostAsync(
                true,
                query,
                [
                    new("query", query),
                    new("start", PrometheusFormat.FormatSeconds(windowStart)),
                    new("end", PrometheusFormat.FormatSeconds(windowEnd)),
                    new("step", PrometheusFormat.FormatSeconds(stepMs)),
                    .. (_options.UncachedRanges ? NoCache : []),
                ],
                response =>
                {
                    var data = SuccessData(query, response);
                    var type = ResultReader.ResultType(data);
                    return type == "matrix"
                        ? ResultReader.ReadMatrix(data, _limits)
                        : throw _errors.MalformedResult(query, response.StatusCode, $"a range query returned a {type} instead of a matrix");
                },
                cancellationToken,
                body => MatrixReader.TryRead(body.Span, _limits)).ConfigureAwait(false));
        }

        return RangeWindows.Merge(windows);
    }

    /// <summary>
    /// Returns null when <paramref name="query"/> is valid PromQL, else Prometheus' parse error
    /// (e.g. <c>1:5: parse error: unclosed left parenthesis</c>).
    /// </summary>
    /// <remarks>
    /// Prometheus 2.42 has no <c>/api/v1/parse_query</c> (it answers 404), so the query is evaluated at
    /// the Unix epoch and a <c>bad_data</c> answer is taken as the syntax error (VictoriaMetrics: HTTP 422, errorType "422"). Any other failure
    /// throws <see cref="MetricsQueryException"/>: an unreachable server says nothing about syntax.
    /// </remarks>
    public Task<string?> CheckSyntaxAsync(string query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        return PostAsync(
            false,
            query,
            [new("query", query), new("time", PrometheusFormat.FormatSeconds(SyntaxCheckInstantMs))],
            response =>
            {
                if (response.IsError && response.ErrorType == "bad_data" && response.StatusCode is not (401 or 403))
                {
                    var error = response.Error ?? "invalid query";
                    return _errors.Mask(error.StartsWith(QueryParameterPrefix, StringComparison.Ordinal) ? error[QueryParameterPrefix.Length..] : error);
                }

                // VictoriaMetrics: HTTP 422, errorType "422", the parse error after "error when executing query=... for (time=0, step=...): ".
                if (response.IsError && response.StatusCode == 422 && response.ErrorType == "422")
                {
                    var error = response.Error ?? "invalid query";
                    return _errors.Mask(VictoriaMetricsErrorPrefix().Match(error) is { Success: true } prefix ? error[prefix.Length..] : error);
                }

                _ = SuccessData(query, response);
                return (string?)null;
            },
            cancellationToken);
    }

    [GeneratedRegex(@"^error when executing query="".*?"" for \(time=-?\d+, step=\d+\): ", RegexOptions.Singleline)]
    private static partial Regex VictoriaMetricsErrorPrefix();

    private JsonElement SuccessData(string query, ApiResponse response) =>
        response.IsSuccess ? response.Data : throw _errors.FromPrometheusApi(query, response.StatusCode, response.IsEnvelope, response.Error, response.ErrorType, response.BodyPrefix);

    /// <summary>
    /// Sends one form POST (through <see cref="IPrometheusApi"/>) under the per-call timeout and hands the parsed answer to
    /// <paramref name="read"/>, which throws <see cref="MetricsQueryException"/> for error answers.
    /// </summary>
    /// <param name="direct">
    /// Reads the usual answer straight from the body (a range query's matrix), or returns null for anything else, which
    /// <paramref name="read"/> then reads from the parsed document and reports as it always has.
    /// </param>
    private async Task<T> PostAsync<T>(
        bool range,
        string query,
        KeyValuePair<string, string>[] form,
        Func<ApiResponse, T> read,
        CancellationToken cancellationToken,
        Func<ReadOnlyMemory<byte>, T?>? direct = null)
        where T : class?
    {
        var fields = new Dictionary<string, string>(form.Length, StringComparer.Ordinal);
        foreach (var (key, value) in form)
        {
            fields[key] = value;
        }

        Interlocked.Increment(ref _requestCount);
        var (status, body, _) = await BackendHttp.SendAsync(
            ct => range ? _api.QueryRangeAsync(fields, _headers, ct) : _api.QueryAsync(fields, _headers, ct),
            _root,
            query,
            _errors,
            _options.Timeout,
            _options.MaxResponseBytes,
            cancellationToken).ConfigureAwait(false);

        if (direct?.Invoke(body) is { } fast)
        {
            return fast;
        }

        using var answer = ApiResponse.Parse(status, body);
        try
        {
            return read(answer);
        }
        catch (FormatException ex)
        {
            throw _errors.MalformedResult(query, status, ex.Message, ex);
        }
        catch (ResultLimitException ex)
        {
            throw _errors.LimitExceeded(query, status, ex.Message);
        }
    }
}
