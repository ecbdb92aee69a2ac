using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using RollbackSentinel.Backends.Http;
using RollbackSentinel.Core.Metrics;

namespace RollbackSentinel.Backends.Graphite;

/// <summary>
/// Graphite as the engine sees it. A query is one Graphite target expression (<c>sumSeries(app.checkout.http.5xx)</c>);
/// graphite-web renders it to stored points and <see cref="PointSampling"/> turns those into values at instants: the
/// value at <c>t</c> is the newest non-null point in (<c>t</c> - lookback, <c>t</c>]. Null points are gaps, never zeros.
/// </summary>
/// <remarks>
/// A range query is one render request from <c>start - lookback</c> to <c>end</c>, resampled at start + k*step. It is not
/// split into windows: graphite-web picks the storage archive (the resolution) from how far back <c>from</c> reaches, so
/// windows of one range could come from different archives and change resolution in the middle. A range too large for
/// <see cref="BackendOptions.MaxResponseBytes"/> fails saying so.
/// </remarks>
internal sealed class GraphiteSource : IMetricsSource, IQueryChecker
{
    /// <summary>Where <see cref="CheckSyntaxAsync"/> renders: the first minute of the Unix epoch, which holds no data.</summary>
    private const long SyntaxCheckFrom = 0;

    private const long SyntaxCheckUntil = 60;

    private readonly IGraphiteApi _api;
    private readonly GraphiteOptions _options;
    private readonly BackendErrors _errors;
    private readonly Dictionary<string, string> _headers;

    public GraphiteSource(IGraphiteApi api, GraphiteOptions options)
    {
        ArgumentNullException.ThrowIfNull(api);
        ArgumentNullException.ThrowIfNull(options);
        _api = api;
        _options = options;

        _headers = options.RequestHeaders(out var basic);

        _errors = new BackendErrors(options.BaseAddress, [.. options.Secrets(), basic], "Graphite", options.LimitsKey);
    }

    /// <inheritdoc />
    /// <remarks>Each series with a point in (<paramref name="time"/> - lookback, <paramref name="time"/>] is one sample; the others have none.</remarks>
    public async Task<IReadOnlyList<Sample>> QueryAsync(string query, DateTimeOffset time, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(query);
        var series = await RenderAsync(query, time - _options.Lookback, time, cancellationToken).ConfigureAwait(false);
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
        var series = await RenderAsync(query, start - _options.Lookback, end, cancellationToken).ConfigureAwait(false);
        return PointSampling.ResampleAll(series, start, end, step, _options.Lookback);
    }

    /// <summary>
    /// Null when graphite-web accepts <paramref name="query"/> as a target, else what it says is wrong
    /// (<c>Invalid parameters (Received request for unknown function: sumSeriess)...</c>,
    /// <c>ValueError: Invalid tagspec foo</c>), or an unbalanced parenthesis or quote.
    /// </summary>
    /// <remarks>
    /// graphite-web has no parse-only endpoint, so the target is rendered over the first minute of 1970, which holds no
    /// data. graphite-web reads a target with an unclosed parenthesis or quote as a metric path and answers no series,
    /// so those are checked here first: such a rule would only ever see "no data".
    /// </remarks>
    public async Task<string?> CheckSyntaxAsync(string query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        if (string.IsNullOrWhiteSpace(query))
        {
            return "the target is empty";
        }

        if (Unbalanced(query) is { } problem)
        {
            return problem;
        }

        var answer = await SendAsync(query, SyntaxCheckFrom, SyntaxCheckUntil, cancellationToken).ConfigureAwait(false);
        if (answer.Status is 400 or >= 500
            && GraphiteErrorText.Parse(answer.Body.Span) is { } said
            && (answer.Status == 400 || said.BlamesTarget))
        {
            return _errors.Mask(said.Message);
        }

        // Anything else is either an answer (the target is fine) or a failure that says nothing about the target.
        _ = Read(query, answer);
        return null;
    }

    /// <summary>The answer's series with their raw points, for the window (<paramref name="from"/>, <paramref name="until"/>].</summary>
    private async Task<IReadOnlyList<RangeSeries>> RenderAsync(string query, DateTimeOffset from, DateTimeOffset until, CancellationToken cancellationToken)
    {
        // Whole epoch seconds. graphite-web (whisper) answers the points after `from` up to `until`; rounding `from`
        // down only fetches a point that sampling then ignores. `until` rounds down too: points have whole seconds.
        var fromSeconds = FloorSeconds(from);
        var untilSeconds = Math.Max(FloorSeconds(until), fromSeconds + 1); // graphite-web refuses an empty range
        var answer = await SendAsync(query, fromSeconds, untilSeconds, cancellationToken).ConfigureAwait(false);
        return Read(query, answer);
    }

    private IReadOnlyList<RangeSeries> Read(string query, BackendAnswer answer)
    {
        var status = answer.Status;
        if (status is 401 or 403)
        {
            throw _errors.Unauthorized(query, status);
        }

        if (status is >= 200 and < 300)
        {
            return GraphiteRenderReader.Read(answer.Body, status, query, _errors, _options.MaxSeries, _options.MaxLabelLength, _options.LimitsKey);
        }

        var said = GraphiteErrorText.Parse(answer.Body.Span);
        if (status == 400 && said is not null)
        {
            throw _errors.Rejected(query, status, MetricsErrorKind.BadQuery, said.Message);
        }

        if (status >= 500 && said?.ExceptionType is { } type)
        {
            throw _errors.Rejected(query, status, said.BlamesTarget ? MetricsErrorKind.BadQuery : MetricsErrorKind.ServerError, said.Message, type);
        }

        // A proxy's page, a 404 from a wrong base address, a 502 from a load balancer.
        throw _errors.NotTheApi(query, status, GraphiteRenderReader.BodyPrefix(answer.Body.Span));
    }

    private Task<BackendAnswer> SendAsync(string query, long fromSeconds, long untilSeconds, CancellationToken cancellationToken)
    {
        var form = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["target"] = query,

            // Epoch seconds, which graphite-web reads as such (except 8 digits that form a date, 1973-1976 only).
            ["from"] = fromSeconds.ToString(CultureInfo.InvariantCulture),
            ["until"] = untilSeconds.ToString(CultureInfo.InvariantCulture),
            ["format"] = "json",
        };
        return BackendHttp.SendAsync(
            ct => _api.RenderAsync(form, _headers, ct),
            _options.BaseAddress,
            query,
            _errors,
            _options.Timeout,
            _options.MaxResponseBytes,
            cancellationToken);
    }

    private static long FloorSeconds(DateTimeOffset time) => (long)Math.Floor(time.ToUnixTimeMilliseconds() / 1000d);

    /// <summary>An unclosed or unopened parenthesis, or an unclosed quote, outside quotes; null when there is none.</summary>
    internal static string? Unbalanced(string target)
    {
        var depth = 0;
        char? quote = null;
        var quoteAt = 0;
        for (var i = 0; i < target.Length; i++)
        {
            var c = target[i];
            if (quote is { } q)
            {
                if (c == q)
                {
                    quote = null;
                }

                continue;
            }

            switch (c)
            {
                case '\'' or '"':
                    quote = c;
                    quoteAt = i;
                    break;
                case '(':
                    depth++;
                    break;
                case ')' when depth == 0:
                    return $"unexpected ')' at character {i + 1}";
                case ')':
                    depth--;
                    break;
            }
        }

        return quote is not null ? $"unclosed quote opened at character {quoteAt + 1}"
            : depth > 0 ? $"{depth} unclosed '(': graphite-web would read the target as a metric path and find no series"
            : null;
    }
}
