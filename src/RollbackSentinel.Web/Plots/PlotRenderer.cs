using System.Globalization;
using System.Text;
using RollbackSentinel.Core.Evaluation;

namespace RollbackSentinel.Web.Plots;

/// <summary>One <see cref="SvgPlot.Render(TriggerPlot, PlotSize?, string)"/> call: lays the plot out, then writes it.</summary>
internal sealed class PlotRenderer
{
    public const int MinWidth = 160;
    public const int MinHeight = 100;
    public const int SeriesColours = 8;

    private const double MarginLeft = 60;
    private const double MarginRight = 16;
    private const double MarginTop = 10;
    private const double MarginBottom = 26;
    private const double LegendRowHeight = 16;
    private const int LegendMaxRows = 3;
    private const int LegendMaxLabelChars = 40;
    private const double CharWidth = 6.2;
    private const double PointRadius = 2.5;
    private const int DescribedAtMost = 10;

    private static readonly Func<PlotSample, double?> ValueOf = s => s.Value;
    private static readonly Func<PlotSample, double?> ThresholdOf = s => s.Threshold;
    private static readonly Func<PlotSample, double?> BaselineOf = s => s.Baseline;

    private readonly TriggerPlot _plot;
    private readonly PlotSize _size;
    private readonly string _id;
    private readonly List<SeriesData> _series;
    private readonly List<PlotMarker> _markers;
    private readonly List<LegendItem> _legend;
    private readonly int _legendRows;
    private readonly TimeScale _x;
    private readonly LinearScale _y;
    private readonly ValueAxis _yAxis;
    private readonly double _top;
    private readonly double _bottom;
    private readonly bool _hasData;
    private readonly SvgWriter _w = new();

    public PlotRenderer(TriggerPlot plot, PlotSize size, string idPrefix)
    {
        _plot = plot;
        _size = size;
        _id = idPrefix;
        var left = MarginLeft;
        var right = size.Width - MarginRight;
        var window = new TimeScale(plot.From, plot.To, left, right);

        _series = new List<SeriesData>(plot.Series.Count);
        for (var i = 0; i < plot.Series.Count; i++)
        {
            _series.Add(SeriesData.Of(plot.Series[i], i, window, plot.ValueLabel));
        }

        _markers = [.. plot.Markers.Where(m => window.Contains(m.At.ToUniversalTime()))];
        _hasData = _series.Any(s => s.LastValue is not null);

        (_legend, _legendRows) = LayoutLegend(left, right);
        _top = MarginTop + (_legendRows * LegendRowHeight);
        _bottom = size.Height - MarginBottom;
        _x = window;

        var (min, max) = ValueExtent(_series);
        _yAxis = NiceTicks.For(min, max, Math.Max(2, (int)((_bottom - _top) / 40)));
        _y = new LinearScale(_yAxis.Min, _yAxis.Max, _bottom, _top);
    }

    private string TitleId => _id + "-title";

    private string DescId => _id + "-desc";

    public string Render()
    {
        _w.Start("svg")
            .Attr("xmlns", "http://www.w3.org/2000/svg")
            .Attr("class", "plot")
            .Attr("viewBox", string.Create(CultureInfo.InvariantCulture, $"0 0 {_size.Width} {_size.Height}"))
            // A plot with markers holds links and focusable elements, which role="img" would hide from assistive
            // technology (its children are presentational); without them the whole plot is one image.
            .Attr("role", _markers.Count == 0 ? "img" : "group")
            .Attr("aria-labelledby", TitleId)
            .Attr("aria-describedby", DescId);
        _w.Start("title").Attr("id", TitleId).Text(_plot.Title).End();
        _w.Start("desc").Attr("id", DescId).Text(Description()).End();

        WriteGrid();
        WriteBreaches();
        WriteAxes();
        WriteSteps("baseline", BaselineOf, s => s.HasBaseline, s => s.ConstantBaseline);
        WriteSteps("threshold", ThresholdOf, s => s.HasThreshold, s => s.ConstantThreshold);
        WriteSeries();
        WriteMarkers();
        WriteLegend();
        if (!_hasData)
        {
            _w.Start("text").Attr("class", "no-data")
                .Attr("x", (_x.Left + _x.Right) / 2).Attr("y", (_top + _bottom) / 2)
                .Attr("text-anchor", "middle").Attr("dominant-baseline", "middle")
                .Text("no data in this window").End();
        }

        _w.End();
        return _w.ToString();
    }

    private static (double Min, double Max) ValueExtent(List<SeriesData> series)
    {
        var (min, max) = (double.PositiveInfinity, double.NegativeInfinity);
        foreach (var s in series)
        {
            foreach (var sample in s.Samples)
            {
                Include(sample.Value, ref min, ref max);
                Include(sample.Threshold, ref min, ref max);
                Include(sample.Baseline, ref min, ref max);
            }
        }

        return (min, max);

        static void Include(double? v, ref double min, ref double max)
        {
            if (v is { } value && double.IsFinite(value))
            {
                min = Math.Min(min, value);
                max = Math.Max(max, value);
            }
        }
    }

    private void WriteGrid()
    {
        _w.Start("g").Attr("class", "grid");
        foreach (var tick in _yAxis.Ticks)
        {
            var y = _y.Map(tick);
            _w.Start("line").Attr("x1", _x.Left).Attr("y1", y).Attr("x2", _x.Right).Attr("y2", y).End();
        }

        _w.End();
    }

    private void WriteBreaches()
    {
        if (!_series.Any(s => s.Breaches.Count > 0))
        {
            return;
        }

        _w.Start("g").Attr("class", "breaches");
        foreach (var s in _series)
        {
            foreach (var span in s.Breaches)
            {
                var from = Math.Max(_x.Map(span.From), _x.Left);
                var to = Math.Min(_x.Map(span.To), _x.Right);

                // However narrow, a breach stays at least one unit wide: one breaching sample among thousands must show.
                var width = Math.Max(1, to - from);
                from = Math.Min(from, _x.Right - width);
                _w.Start("rect").Attr("class", "breach").Attr("data-series", s.Label)
                    .Attr("data-from", Rfc3339.Format(span.From)).Attr("data-to", Rfc3339.Format(span.To))
                    .Attr("x", from).Attr("y", _top).Attr("width", width).Attr("height", _bottom - _top);
                _w.TextElement("title", $"breach {s.Name} from {Rfc3339.Format(span.From)} to {Rfc3339.Format(span.To)}");
                _w.End();
            }
        }

        _w.End();
    }

    private void WriteAxes()
    {
        _w.Start("g").Attr("class", "axis axis-y");
        _w.Start("line").Attr("class", "axis-line").Attr("x1", _x.Left).Attr("y1", _top).Attr("x2", _x.Left).Attr("y2", _bottom).End();
        foreach (var tick in _yAxis.Ticks)
        {
            var y = _y.Map(tick);
            _w.Start("g").Attr("class", "tick");
            _w.Start("line").Attr("x1", _x.Left - 4).Attr("y1", y).Attr("x2", _x.Left).Attr("y2", y).End();
            _w.Start("text").Attr("x", _x.Left - 6).Attr("y", y).Attr("text-anchor", "end").Attr("dominant-baseline", "middle")
                .Text(_yAxis.Label(tick)).End();
            _w.End();
        }

        _w.End();

        var step = _x.NiceStep(Math.Max(2, (int)((_x.Right - _x.Left) / 90)));
        _w.Start("g").Attr("class", "axis axis-x");
        _w.Start("line").Attr("class", "axis-line").Attr("x1", _x.Left).Attr("y1", _bottom).Attr("x2", _x.Right).Attr("y2", _bottom).End();
        foreach (var tick in _x.Ticks(step))
        {
            var x = _x.Map(tick);
            var label = _x.Label(tick, step);
            var anchor = x + (label.Length * CharWidth / 2) > _size.Width ? "end" : "middle";
            _w.Start("g").Attr("class", "tick").Attr("data-at", Rfc3339.Format(tick));
            _w.Start("line").Attr("x1", x).Attr("y1", _bottom).Attr("x2", x).Attr("y2", _bottom + 4).End();
            _w.Start("text").Attr("x", x).Attr("y", _bottom + 16).Attr("text-anchor", anchor).Text(label).End();
            _w.End();
        }

        _w.End();

        var middle = (_top + _bottom) / 2;
        _w.Start("text").Attr("class", "axis-label").Attr("x", 12).Attr("y", middle).Attr("text-anchor", "middle")
            .Attr("transform", $"rotate(-90 12 {SvgWriter.Coordinate(middle)})")
            .Text(_plot.ValueLabel).End();
    }

    /// <summary>
    /// Thresholds or baselines as step lines: a value holds from its sample until the next one, and a sample without one
    /// ends the line there.
    /// </summary>
    private void WriteSteps(string cssClass, Func<PlotSample, double?> select, Func<SeriesData, bool> has, Func<SeriesData, double?> constant)
    {
        foreach (var s in _series)
        {
            if (!has(s))
            {
                continue;
            }

            var d = new PathData();
            var down = false;
            var current = 0.0;
            var lastX = 0.0;
            foreach (var i in Downsampler.Reduce(s.Samples, select, _x))
            {
                var sample = s.Samples[i];
                var x = _x.Map(sample.At);
                if (select(sample) is { } v && double.IsFinite(v))
                {
                    if (!down)
                    {
                        d.MoveTo(x, _y.Map(v));
                        (down, current) = (true, v);
                    }
                    else if (v != current)
                    {
                        d.HorizontalTo(x);
                        d.VerticalTo(_y.Map(v));
                        current = v;
                    }

                    lastX = x;
                }
                else if (down)
                {
                    d.HorizontalTo(x);
                    down = false;
                }
            }

            if (down)
            {
                d.HorizontalTo(lastX);
            }

            _w.Start("path").Attr("class", cssClass).Attr("data-series", s.Label);
            if (constant(s) is { } value)
            {
                _w.Attr("data-value", NiceTicks.RoundTrip(value));
            }

            _w.Attr("d", d.ToString()).End();
        }
    }

    /// <summary>Each series' line, broken at every gap; a value with no neighbour on either side is a dot.</summary>
    private void WriteSeries()
    {
        var isolated = new List<(double X, double Y)>();
        foreach (var s in _series)
        {
            var d = new PathData();
            var run = 0;
            var (firstX, firstY) = (0.0, 0.0);
            isolated.Clear();
            foreach (var i in Downsampler.Reduce(s.Samples, ValueOf, _x))
            {
                var sample = s.Samples[i];
                if (sample.Value is { } v && double.IsFinite(v))
                {
                    var (x, y) = (_x.Map(sample.At), _y.Map(v));
                    if (run == 0)
                    {
                        (firstX, firstY) = (x, y);
                    }
                    else
                    {
                        if (run == 1)
                        {
                            d.MoveTo(firstX, firstY);
                        }

                        d.LineTo(x, y);
                    }

                    run++;
                }
                else
                {
                    if (run == 1)
                    {
                        isolated.Add((firstX, firstY));
                    }

                    run = 0;
                }
            }

            if (run == 1)
            {
                isolated.Add((firstX, firstY));
            }

            _w.Start("path").Attr("class", $"series {s.ColourClass}").Attr("data-series", s.Label).Attr("d", d.ToString()).End();
            foreach (var (x, y) in isolated)
            {
                _w.Start("circle").Attr("class", $"point {s.ColourClass}").Attr("data-series", s.Label)
                    .Attr("cx", x).Attr("cy", y).Attr("r", PointRadius).End();
            }
        }
    }

    private void WriteMarkers()
    {
        foreach (var m in _markers)
        {
            var x = _x.Map(m.At);
            var link = m.Href is { } href && IsSafeHref(href);
            if (link)
            {
                _w.Start("a").Attr("href", m.Href!);
            }

            var kind = KindName(m.Kind);
            _w.Start("g").Attr("class", $"marker marker-{kind}");
            if (!link)
            {
                _w.Attr("tabindex", "0");
            }

            _w.Attr("role", "img").Attr("data-at", Rfc3339.Format(m.At)).Attr("aria-label", m.Text);
            _w.TextElement("title", m.Text);
            _w.Start("line").Attr("class", "marker-hit").Attr("x1", x).Attr("y1", _top).Attr("x2", x).Attr("y2", _bottom).End();
            _w.Start("line").Attr("class", "marker-line").Attr("x1", x).Attr("y1", _top).Attr("x2", x).Attr("y2", _bottom).End();
            WriteMarkerSymbol(m.Kind, x);

            var nearRight = x + 8 + (m.Text.Length * CharWidth) > _x.Right;
            _w.Start("text").Attr("class", "marker-label").Attr("x", nearRight ? x - 6 : x + 6).Attr("y", _top + 18)
                .Attr("text-anchor", nearRight ? "end" : "start").Text(m.Text).End();
            _w.End();
            if (link)
            {
                _w.End();
            }
        }
    }

    private void WriteMarkerSymbol(MarkerKind kind, double x)
    {
        var top = _top;
        switch (kind)
        {
            case MarkerKind.Incident:
                _w.Start("circle").Attr("class", "marker-symbol").Attr("cx", x).Attr("cy", top + 5).Attr("r", 4.5).End();
                break;
            case MarkerKind.Decision:
                _w.Start("path").Attr("class", "marker-symbol")
                    .Attr("d", Path(d => { d.MoveTo(x, top); d.LineTo(x + 5, top + 5); d.LineTo(x, top + 10); d.LineTo(x - 5, top + 5); }) + "Z").End();
                break;
            default:
                _w.Start("path").Attr("class", "marker-symbol")
                    .Attr("d", Path(d => { d.MoveTo(x - 5, top); d.LineTo(x + 5, top); d.LineTo(x, top + 8); }) + "Z").End();
                break;
        }

        static string Path(Action<PathData> draw)
        {
            var d = new PathData();
            draw(d);
            return d.ToString();
        }
    }

    private static string KindName(MarkerKind kind) => kind switch
    {
        MarkerKind.Change => "change",
        MarkerKind.Decision => "decision",
        MarkerKind.Incident => "incident",
        _ => "change",
    };

    /// <summary>
    /// Relative links, and absolute ones over http(s) only: a marker's link must never run script
    /// (<c>javascript:</c>, <c>data:</c>). Whitespace and control characters are refused outright, since browsers strip
    /// them from a scheme ("java&#9;script:").
    /// </summary>
    internal static bool IsSafeHref(string href)
    {
        if (href.Length == 0)
        {
            return false;
        }

        foreach (var c in href)
        {
            if (c <= ' ' || c == '\u007f')
            {
                return false;
            }
        }

        var colon = href.IndexOf(':', StringComparison.Ordinal);
        var pathStart = href.AsSpan().IndexOfAny('/', '?', '#');
        if (colon < 0 || (pathStart >= 0 && pathStart < colon))
        {
            return true;
        }

        var scheme = href[..colon];
        return scheme.Equals("https", StringComparison.OrdinalIgnoreCase) || scheme.Equals("http", StringComparison.OrdinalIgnoreCase);
    }

    private (List<LegendItem> Items, int Rows) LayoutLegend(double left, double right)
    {
        var items = new List<LegendItem>();
        if (_series.Count > 1 || _series.Any(s => s.Label.Length > 0))
        {
            foreach (var s in _series)
            {
                items.Add(new LegendItem(LegendKind.Series, s.Name, s));
            }
        }

        if (items.Count > 0 || _series.Any(s => s.HasThreshold || s.HasBaseline || s.Breaches.Count > 0))
        {
            // The keys only for what this plot draws: a "baseline" key over a plot with none would mislead.
            if (_series.Any(s => s.HasThreshold))
            {
                items.Add(new LegendItem(LegendKind.Threshold, "threshold", null));
            }

            if (_series.Any(s => s.HasBaseline))
            {
                items.Add(new LegendItem(LegendKind.Baseline, "baseline", null));
            }

            if (_series.Any(s => s.Breaches.Count > 0))
            {
                items.Add(new LegendItem(LegendKind.Breach, "breach", null));
            }
        }

        if (items.Count == 0)
        {
            return (items, 0);
        }

        var (x, row) = (left, 0);
        for (var i = 0; i < items.Count; i++)
        {
            var item = items[i];
            var width = 26 + (Math.Min(item.Text.Length, LegendMaxLabelChars + 1) * CharWidth) + 12;
            if (x > left && x + width > right)
            {
                if (row + 1 == LegendMaxRows)
                {
                    // Out of room: the rest is counted, not drawn (every series is still in the description).
                    items[i] = new LegendItem(LegendKind.More, $"+{items.Count - i} more", null) { X = x, Row = row };
                    items.RemoveRange(i + 1, items.Count - i - 1);
                    break;
                }

                (x, row) = (left, row + 1);
            }

            item.X = x;
            item.Row = row;
            x += width;
        }

        return (items, row + 1);
    }

    private void WriteLegend()
    {
        if (_legend.Count == 0)
        {
            return;
        }

        _w.Start("g").Attr("class", "legend");
        foreach (var item in _legend)
        {
            var y = MarginTop + (item.Row * LegendRowHeight);
            var x = item.X;
            _w.Start("g").Attr("class", "legend-item");
            if (item.Series is { } s)
            {
                _w.Attr("data-series", s.Label);
            }

            var text = item.Text.Length > LegendMaxLabelChars ? string.Concat(item.Text.AsSpan(0, LegendMaxLabelChars - 1), "…") : item.Text;
            if (text.Length != item.Text.Length)
            {
                _w.TextElement("title", item.Text);
            }

            switch (item.Kind)
            {
                case LegendKind.Series:
                    _w.Start("line").Attr("class", $"legend-swatch legend-series {item.Series!.ColourClass}")
                        .Attr("x1", x).Attr("y1", y).Attr("x2", x + 20).Attr("y2", y).End();
                    break;
                case LegendKind.Threshold:
                case LegendKind.Baseline:
                    _w.Start("line").Attr("class", item.Kind == LegendKind.Threshold ? "legend-swatch legend-threshold" : "legend-swatch legend-baseline")
                        .Attr("x1", x).Attr("y1", y).Attr("x2", x + 20).Attr("y2", y).End();
                    break;
                case LegendKind.Breach:
                    _w.Start("rect").Attr("class", "legend-swatch legend-breach").Attr("x", x).Attr("y", y - 5).Attr("width", 20).Attr("height", 10).End();
                    break;
                default:
                    break;
            }

            var textX = item.Kind == LegendKind.More ? x : x + 26;
            _w.Start("text").Attr("x", textX).Attr("y", y).Attr("dominant-baseline", "middle").Text(text).End();
            _w.End();
        }

        _w.End();
    }

    /// <summary>What a screen reader says for the plot: the window, each series' last value and threshold, breaches and markers.</summary>
    private string Description()
    {
        var sb = new StringBuilder(256);
        sb.Append(_plot.ValueLabel).Append(" of ").Append(_plot.Title)
            .Append(" from ").Append(Rfc3339.Format(_x.From)).Append(" to ").Append(Rfc3339.Format(_x.To)).Append('.');
        if (!_hasData)
        {
            sb.Append(" No data in this window.");
        }

        foreach (var s in _series)
        {
            sb.Append(' ').Append(s.Name).Append(':');
            if (s.LastValue is { } last)
            {
                sb.Append(" last value ").Append(NiceTicks.Readable(last.Value)).Append(" at ").Append(Rfc3339.Format(last.At));
            }
            else
            {
                sb.Append(" no data");
            }

            if (s.LastThreshold is { } threshold)
            {
                sb.Append(", threshold ").Append(NiceTicks.Readable(threshold));
            }

            if (s.LastBaseline is { } baseline)
            {
                sb.Append(", baseline ").Append(NiceTicks.Readable(baseline));
            }

            sb.Append('.');
        }

        var spans = _series.SelectMany(s => s.Breaches.Select(b => (Series: s, Span: b))).OrderBy(b => b.Span.From).ThenBy(b => b.Series.Index).ToList();
        sb.Append(' ').Append(spans.Count switch { 0 => "No breaches", 1 => "1 breach", var n => $"{n} breaches" });
        AppendList(sb, spans, b => $"{b.Series.Name} from {Rfc3339.Format(b.Span.From)} to {Rfc3339.Format(b.Span.To)}");

        if (_markers.Count > 0)
        {
            sb.Append(' ').Append(_markers.Count == 1 ? "1 marker" : $"{_markers.Count} markers");
            AppendList(sb, _markers, m => $"{KindName(m.Kind)} at {Rfc3339.Format(m.At)}: {m.Text}");
        }

        return sb.ToString();
    }

    private static void AppendList<T>(StringBuilder sb, IReadOnlyList<T> items, Func<T, string> describe)
    {
        if (items.Count == 0)
        {
            sb.Append('.');
            return;
        }

        sb.Append(": ");
        for (var i = 0; i < Math.Min(items.Count, DescribedAtMost); i++)
        {
            sb.Append(i == 0 ? "" : "; ").Append(describe(items[i]));
        }

        if (items.Count > DescribedAtMost)
        {
            sb.Append("; and ").Append((items.Count - DescribedAtMost).ToString(CultureInfo.InvariantCulture)).Append(" more");
        }

        sb.Append('.');
    }

    private enum LegendKind
    {
        Series,
        Threshold,
        Baseline,
        Breach,
        More,
    }

    private sealed record LegendItem(LegendKind Kind, string Text, SeriesData? Series)
    {
        public double X { get; set; }

        public int Row { get; set; }
    }

    /// <summary>One series, as drawn: its samples within the window, and what the legend and description say of it.</summary>
    private sealed class SeriesData
    {
        private SeriesData(PlotSeries series, int index, string valueLabel, List<PlotSample> samples, IReadOnlyList<BreachSpan> breaches)
        {
            Label = series.Label;
            Name = series.Label.Length > 0 ? series.Label : valueLabel;
            Index = index;
            ColourClass = "s" + (index % SeriesColours).ToString(CultureInfo.InvariantCulture);
            Samples = samples;
            Breaches = breaches;
            (HasThreshold, ConstantThreshold, LastThreshold) = Constant(samples, ThresholdOf);
            (HasBaseline, ConstantBaseline, LastBaseline) = Constant(samples, BaselineOf);
            for (var i = samples.Count - 1; i >= 0; i--)
            {
                if (samples[i].Value is { } v && double.IsFinite(v))
                {
                    LastValue = (samples[i].At, v);
                    break;
                }
            }
        }

        public string Label { get; }

        /// <summary>The label, or the value label for a series without one.</summary>
        public string Name { get; }

        public int Index { get; }

        public string ColourClass { get; }

        /// <summary>The samples within the window, oldest first.</summary>
        public List<PlotSample> Samples { get; }

        /// <summary>From all the samples given, at full resolution; they may reach outside the window.</summary>
        public IReadOnlyList<BreachSpan> Breaches { get; }

        public (DateTimeOffset At, double Value)? LastValue { get; }

        public bool HasThreshold { get; }

        /// <summary>The threshold when every sample that has one has the same.</summary>
        public double? ConstantThreshold { get; }

        public double? LastThreshold { get; }

        public bool HasBaseline { get; }

        public double? ConstantBaseline { get; }

        public double? LastBaseline { get; }

        public static SeriesData Of(PlotSeries series, int index, TimeScale window, string valueLabel)
        {
            var inWindow = new List<PlotSample>(series.Samples.Count);
            foreach (var s in series.Samples)
            {
                if (window.Contains(s.At))
                {
                    inWindow.Add(s);
                }
            }

            var breaches = BreachSpans.Find(series.Samples, window.To)
                .Where(b => b.To >= window.From && b.From <= window.To)
                .ToList();
            return new SeriesData(series, index, valueLabel, inWindow, breaches);
        }

        private static (bool Any, double? Constant, double? Last) Constant(List<PlotSample> samples, Func<PlotSample, double?> select)
        {
            double? first = null;
            double? last = null;
            var constant = true;
            foreach (var s in samples)
            {
                if (select(s) is { } v && double.IsFinite(v))
                {
                    first ??= v;
                    constant &= v.Equals(first.Value);
                    last = v;
                }
            }

            return (first is not null, constant ? first : null, last);
        }
    }
}
