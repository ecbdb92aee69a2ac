using System.Net.Http.Headers;
using System.Text;
using RollbackSentinel.Backends.Http;
using RollbackSentinel.Core.Metrics;

namespace RollbackSentinel.Backends.InfluxDb;

/// <summary>
/// InfluxDB 1.x as the engine sees it. A query is one InfluxQL <c>SELECT</c> with <c>$timeFilter</c> in its WHERE clause;
/// the adapter puts the window it needs there, InfluxDB answers stored points (or <c>GROUP BY time()</c> buckets, stamped at
/// their start), and <see cref="PointSampling"/> turns those into values at instants: the value at <c>t</c> is the newest
/// non-null point in (<c>t</c> - lookback, <c>t</c>]. Null values are gaps, never zeros. Each series' tags are its labels.
/// </summary>
/// <remarks>
/// Times go to InfluxDB in epoch milliseconds (<c>epoch=ms</c>, <c>time &gt; 1700000000000ms</c>), not whole seconds, so a
/// point is never moved across the edge of the window it is sampled in.
/// A range query is fetched in windows of at most <see cref="RangeWindow"/> of instants, each from its first instant minus
/// the lookback, resampled at start + k*step and appended: InfluxDB answers every stored point (how many depends on how
/// often they were written, not on the step), so a long range would otherwise hold all of them in one answer.
/// </remarks>
internal sealed class InfluxDbSource : IMetricsSource, IQueryChecker
{
    /// <summary>The most time one range request covers; a backtest over weeks becomes one request per day.</summary>
    internal static readonly TimeSpan RangeWindow = TimeSpan.FromDays(1);

    /// <summary>Where <see cref="CheckSyntaxAsync"/> runs the query: the first second of the Unix epoch, which holds no data.</summary>
    private const long SyntaxCheckFromMs = 0;

    private const long SyntaxCheckToMs = 1_000;

    private const string ParseErrorPrefix = "error parsing query: ";

    private readonly IInfluxDbApi _api;
    private readonly InfluxDbOptions _options;
    private readonly BackendErrors _errors;
    private readonly Dictionary<string, string> _headers;

    public InfluxDbSource(IInfluxDbApi api, InfluxDbOptions options)
    {
        ArgumentNullException.ThrowIfNull(api);
        ArgumentNullException.ThrowIfNull(options);
        _api = api;
        _options = options;

        _headers = options.RequestHeaders(out var basic);

        _errors = new BackendErrors(options.BaseAddress, [.. options.Secrets(), basic], "InfluxDB", options.LimitsKey);
    }

    /// <inheritdoc />
    /// <remarks>Each series with a point in (<paramref name="time"/> - lookback, <paramref name="time"/>] is one sample; the others have none.</remarks>
    public async Task<IReadOnlyList<Sample>> QueryAsync(string query, DateTimeOffset time, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(query);
        var at = time.ToUnixTimeMilliseconds();
        var series = await SelectAsync(query, at - Reach(query), at, cancellationToken).ConfigureAwait(false);
        return PointSampling.ValuesAt(series, time, _options.Lookback);
    }

    /// <inheritdoc />
    /// <remarks>A series with no value at any of the instants is left out, as Prometheus leaves it out.</remarks>
    public async Task<IReadOnlyList<RangeSeries>> QueryRangeAsync(
        string query, DateTimeOffset start, DateTimeOffset end, TimeSpan step, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(query);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(step, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(end, start);

        // Instants per window: at least one, so a step longer than the window still moves forward.
        var perWindow = Math.Max(1, (long)(RangeWindow.Ticks / step.Ticks));
        var merged = new Dictionary<LabelSet, List<Point>>();
        var order = new List<LabelSet>();
        for (var windowStart = start; windowStart <= end; windowStart += step * perWindow)
        {
            var last = windowStart + (step * (perWindow - 1));
            var windowEnd = last < end ? last : end;
            var series = await SelectAsync(
                query,
                windowStart.ToUnixTimeMilliseconds() - Reach(query),
                windowEnd.ToUnixTimeMilliseconds(),
                cancellationToken).ConfigureAwait(false);
            foreach (var s in series)
            {
                var points = PointSampling.Resample(s.Points, windowStart, windowEnd, step, _options.Lookback);
                if (points.Count == 0)
                {
                    continue;
                }

                if (!merged.TryGetValue(s.Labels, out var all))
                {
                    if (merged.Count == _options.MaxSeries)
                    {
                        throw _errors.LimitExceeded(
                            query,
                            200,
                            $"more than the maxSeries cap of {_options.MaxSeries} series over the range; group by fewer tags or raise {_options.LimitsKey}.maxSeries");
                    }

                    merged[s.Labels] = all = [];
                    order.Add(s.Labels);
                }

                all.AddRange(points);
            }
        }

        return order.Select(l => new RangeSeries(l, merged[l])).ToList();
    }

    /// <summary>
    /// Null when InfluxDB accepts <paramref name="query"/>, else what is wrong with it: the adapter's own requirements (one
    /// SELECT, a <c>$timeFilter</c>, no INTO) or InfluxDB's parse error (<c>found SELEC, expected SELECT, ... at line 1, char 1</c>)
    /// or its statement error (<c>GROUP BY requires at least one aggregate function</c>).
    /// </summary>
    /// <remarks>
    /// InfluxDB 1.x has no parse-only endpoint, so the query runs over the first second of 1970, which holds no data. A missing
    /// database or retention policy, like any failure that says nothing about the query, throws.
    /// </remarks>
    public async Task<string?> CheckSyntaxAsync(string query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        if (InfluxQlText.Problem(query) is { } problem)
        {
            return problem;
        }

        var answer = await SendAsync(query, InfluxQlText.WithTimeFilter(query, SyntaxCheckFromMs, SyntaxCheckToMs), cancellationToken).ConfigureAwait(false);
        if (answer.Status == 400 && InfluxDbResponseReader.ErrorText(answer.Body.Span) is { } said)
        {
            return _errors.Mask(said.StartsWith(ParseErrorPrefix, StringComparison.Ordinal) ? said[ParseErrorPrefix.Length..] : said);
        }

        if (answer.Status is >= 200 and < 300)
        {
            var read = InfluxDbResponseReader.Read(answer.Body, answer.Status, query, _errors, _options);
            if (read.StatementError is { } error)
            {
                return IsAboutSettings(error) ? throw StatementFailed(query, answer.Status, error) : _errors.Mask(error);
            }

            return null;
        }

        throw Failed(query, answer);
    }

    /// <summary>The answer's series with their stored points, for the window (<paramref name="fromMs"/>, <paramref name="toMs"/>].</summary>
    private async Task<IReadOnlyList<RangeSeries>> SelectAsync(string query, long fromMs, long toMs, CancellationToken cancellationToken)
    {
        if (InfluxQlText.Problem(query) is { } problem)
        {
            throw new MetricsQueryException(
                MetricsErrorKind.BadQuery,
                query,
                $"InfluxDB query {QueryText.ForMessage(query)} cannot be run: {problem}.");
        }

        var answer = await SendAsync(query, InfluxQlText.WithTimeFilter(query, fromMs, toMs), cancellationToken).ConfigureAwait(false);
        if (answer.Status is < 200 or >= 300)
        {
            throw Failed(query, answer);
        }

        var read = InfluxDbResponseReader.Read(answer.Body, answer.Status, query, _errors, _options);
        if (read.StatementError is { } error)
        {
            throw StatementFailed(query, answer.Status, error);
        }

        return InfluxQlText.BucketWidth(query) is { } width ? AtBucketEnds(read.Series, width) : read.Series;
    }

    /// <summary>
    /// How far before an instant the query reaches, in ms: the lookback, and one bucket more, so that the first bucket the
    /// window cuts (InfluxDB returns it holding only the points inside the window) ends before the lookback begins and is
    /// never used.
    /// </summary>
    private long Reach(string query) => (long)(_options.Lookback + (InfluxQlText.BucketWidth(query) ?? TimeSpan.Zero)).TotalMilliseconds;

    /// <summary>
    /// Each <c>GROUP BY time()</c> bucket at the instant it is complete (its start + width) instead of its start, which
    /// InfluxDB labels it with: the value at t is then the newest bucket that ended by t. Labelled by their starts, a range
    /// query would hand the instant t the bucket [t, t + width), made of points written after t: a backtest that sees the
    /// future, and decides earlier than the daemon, whose query at t gets only the points up to t.
    /// </summary>
    private static IReadOnlyList<RangeSeries> AtBucketEnds(IReadOnlyList<RangeSeries> series, TimeSpan width)
    {
        var shifted = new List<RangeSeries>(series.Count);
        foreach (var s in series)
        {
            var points = new Point[s.Points.Count];
            for (var i = 0; i < points.Length; i++)
            {
                points[i] = new Point(s.Points[i].Timestamp + width, s.Points[i].Value);
            }

            shifted.Add(new RangeSeries(s.Labels, points));
        }

        return shifted;
    }

    private MetricsQueryException Failed(string query, BackendAnswer answer)
    {
        var status = answer.Status;
        if (status is 401 or 403)
        {
            return _errors.Unauthorized(query, status);
        }

        var said = InfluxDbResponseReader.ErrorText(answer.Body.Span);
        return said is null ? _errors.NotTheApi(query, status, InfluxDbResponseReader.BodyPrefix(answer.Body.Span))
            : status == 400 ? _errors.Rejected(query, status, MetricsErrorKind.BadQuery, said)
            : status >= 500 ? _errors.Rejected(query, status, MetricsErrorKind.ServerError, said)

            // A 404 or 405 with InfluxDB's error body: the address is not InfluxDB 1.x's query API.
            : _errors.NotTheApi(query, status, InfluxDbResponseReader.BodyPrefix(answer.Body.Span));
    }

    /// <summary>The statement's own error (HTTP 200): the query is wrong, or the database or retention policy is.</summary>
    private MetricsQueryException StatementFailed(string query, int status, string error)
    {
        // A query killed or timed out on the server may work next time: InfluxDB's failure, not the query's.
        var serverSide = error.Contains("timeout", StringComparison.OrdinalIgnoreCase)
            || error.Contains("interrupted", StringComparison.OrdinalIgnoreCase)
            || error.Contains("killed", StringComparison.OrdinalIgnoreCase);
        var hint = IsAboutSettings(error)
            ? $"; check the database ({_options.Database}) and retention policy ({_options.RetentionPolicy ?? "default"}) set for InfluxDB at {_errors.Server}"
            : string.Empty;
        return _errors.Rejected(query, status, serverSide ? MetricsErrorKind.ServerError : MetricsErrorKind.BadQuery, error + hint);
    }

    private static bool IsAboutSettings(string error) =>
        error.StartsWith("database not found", StringComparison.Ordinal)
        || error.StartsWith("retention policy not found", StringComparison.Ordinal)
        || error.StartsWith("database name required", StringComparison.Ordinal);

    private Task<BackendAnswer> SendAsync(string query, string statement, CancellationToken cancellationToken)
    {
        var form = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["q"] = statement,
            ["db"] = _options.Database,
            ["epoch"] = "ms",
        };
        if (_options.RetentionPolicy is { } rp)
        {
            form["rp"] = rp;
        }

        return BackendHttp.SendAsync(
            ct => _api.QueryAsync(form, _headers, ct),
            _options.BaseAddress,
            query,
            _errors,
            _options.Timeout,
            _options.MaxResponseBytes,
            cancellationToken);
    }
}
