using System.Globalization;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using RollbackSentinel.Web.Plots;

namespace RollbackSentinel.Web.Tests.Plots;

public sealed partial class SvgPlotTests
{
    private static readonly XNamespace Svg = "http://www.w3.org/2000/svg";
    private static readonly DateTimeOffset T0 = new(2025, 3, 1, 10, 0, 0, TimeSpan.Zero);

    private static TriggerPlot Plot(params PlotSeries[] series) => new()
    {
        Title = "error ratio above 5%",
        ValueLabel = "error ratio",
        From = T0,
        To = T0.AddHours(1),
        Series = series,
    };

    /// <summary>One sample a minute from <see cref="T0"/>.</summary>
    private static PlotSeries Minutely(string label, params double?[] values) =>
        new(label, [.. values.Select((v, i) => new PlotSample(T0.AddMinutes(i), v))]);

    private static XElement Parse(string svg) => XElement.Parse(svg);

    private static IEnumerable<XElement> All(XElement root, string name, string cssClass) =>
        root.Descendants(Svg + name).Where(e => ((string?)e.Attribute("class") ?? "").Split(' ').Contains(cssClass));

    private static XElement Single(XElement root, string name, string cssClass) => Assert.Single(All(root, name, cssClass));

    /// <summary>Each subpath of a d attribute as its commands ("M", "L", "L").</summary>
    private static List<string> Subpaths(string d) =>
        [.. Regex.Split(d, "(?=M)").Where(p => p.Length > 0).Select(p => string.Concat(Commands().Matches(p).Select(m => m.Value)))];

    private static List<(double X, double Y)> Points(string d) =>
        [.. PointPattern().Matches(d).Select(m => (double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture), double.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture)))];

    [GeneratedRegex("[MLHVZ]")]
    private static partial Regex Commands();

    [GeneratedRegex(@"[ML](-?[\d.]+),(-?[\d.]+)")]
    private static partial Regex PointPattern();

    [Fact]
    public void Render_Output_IsOneSvgElementWithTheContractRoot()
    {
        var svg = SvgPlot.Render(Plot(Minutely("", 0.01, 0.02, 0.03)));

        Assert.StartsWith("<svg ", svg, StringComparison.Ordinal);
        var root = Parse(svg);
        Assert.Equal(Svg + "svg", root.Name);
        Assert.Equal("plot", (string?)root.Attribute("class"));
        Assert.Equal("0 0 800 240", (string?)root.Attribute("viewBox"));
        Assert.Equal("img", (string?)root.Attribute("role"));
        Assert.Equal("plot-title", (string?)root.Attribute("aria-labelledby"));
        Assert.Equal("plot-desc", (string?)root.Attribute("aria-describedby"));
        Assert.Equal("error ratio above 5%", root.Element(Svg + "title")!.Value);
        Assert.Equal("plot-title", (string?)root.Element(Svg + "title")!.Attribute("id"));
        Assert.Equal("plot-desc", (string?)root.Element(Svg + "desc")!.Attribute("id"));
        Assert.Equal("error ratio", Single(root, "text", "axis-label").Value);
    }

    [Fact]
    public void Render_Output_NoScriptNoExternalReferencesNoStyleAttributes()
    {
        var root = Parse(SvgPlot.Render(Plot(Minutely("a", 1, 2, 3), Minutely("b", 2, 3, 1))));

        Assert.DoesNotContain(root.DescendantsAndSelf(), e => e.Name.LocalName is "script" or "image" or "use" or "foreignObject" or "style");
        Assert.DoesNotContain(root.DescendantsAndSelf().Attributes(), a => a.Name.LocalName is "style" or "src" || a.Name.LocalName.StartsWith("on", StringComparison.Ordinal));
    }

    [Fact]
    public void Render_SizeGiven_ViewBoxIsThatSize()
    {
        var root = Parse(SvgPlot.Render(Plot(Minutely("", 1, 2)), new PlotSize(400, 160)));

        Assert.Equal("0 0 400 160", (string?)root.Attribute("viewBox"));
    }

    [Fact]
    public void Render_TooSmall_Throws() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => SvgPlot.Render(Plot(), new PlotSize(10, 10)));

    [Fact]
    public void Render_IdPrefix_MakesIdsUniquePerPlot()
    {
        var a = Parse(SvgPlot.Render(Plot(Minutely("", 1, 2)), null, "errors"));
        var b = Parse(SvgPlot.Render(Plot(Minutely("", 1, 2)), null, "9 latency\"<"));

        Assert.Equal("errors-title", (string?)a.Element(Svg + "title")!.Attribute("id"));
        Assert.Equal("errors-title", (string?)a.Attribute("aria-labelledby"));
        Assert.Equal("errors-desc", (string?)a.Attribute("aria-describedby"));
        Assert.Equal("p-9-latency---title", (string?)b.Element(Svg + "title")!.Attribute("id"));
        Assert.Equal("p-9-latency---desc", (string?)b.Element(Svg + "desc")!.Attribute("id"));
    }

    [Fact]
    public void Render_GapInData_DrawsNoLineAcrossIt()
    {
        var root = Parse(SvgPlot.Render(Plot(Minutely("", 1, 2, 3, null, null, 4, 5))));

        var d = (string)Single(root, "path", "series").Attribute("d")!;
        Assert.Equal(["MLL", "ML"], Subpaths(d));
        var points = Points(d);
        Assert.Equal(5, points.Count);
        Assert.True(points[3].X - points[2].X > 0, "the second run starts after the gap");
    }

    [Fact]
    public void Render_NaNAndInfinity_AreGaps()
    {
        var root = Parse(SvgPlot.Render(Plot(Minutely("", 1, 2, double.NaN, 3, 4, double.PositiveInfinity, 5, 6, double.NegativeInfinity, 7, 8))));

        var d = (string)Single(root, "path", "series").Attribute("d")!;
        Assert.Equal(["ML", "ML", "ML", "ML"], Subpaths(d));
        Assert.DoesNotContain("NaN", root.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("Infinity", root.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("∞", root.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Render_FlatSeries_NonDegenerateRangeAndAVisibleLine()
    {
        var root = Parse(SvgPlot.Render(Plot(Minutely("", 0.05, 0.05, 0.05, 0.05))));

        var points = Points((string)Single(root, "path", "series").Attribute("d")!);
        Assert.Equal(4, points.Count);
        Assert.Single(points.Select(p => p.Y).Distinct());
        Assert.True(points[^1].X - points[0].X > 0);
        var yLabels = All(root, "g", "axis-y").Single().Descendants(Svg + "text").Select(t => t.Value).ToList();
        Assert.True(yLabels.Distinct().Count() >= 2, string.Join(",", yLabels));

        // The line is inside the plot area, not on its top or bottom edge.
        var gridYs = All(root, "g", "grid").Single().Elements(Svg + "line").Select(l => (double)l.Attribute("y1")!).ToList();
        Assert.InRange(points[0].Y, gridYs.Min() + 1, gridYs.Max() - 1);
    }

    [Fact]
    public void Render_OnePoint_IsACircle()
    {
        var root = Parse(SvgPlot.Render(Plot(Minutely("", null, 0.02, null, 0.03, 0.04))));

        var point = Single(root, "circle", "point");
        Assert.Equal("point s0", (string?)point.Attribute("class"));
        Assert.Equal("", (string?)point.Attribute("data-series"));
        Assert.True((double)point.Attribute("r")! > 0);
        Assert.Equal(["ML"], Subpaths((string)Single(root, "path", "series").Attribute("d")!));
    }

    [Fact]
    public void Render_SingleSampleSeries_IsACircle()
    {
        var root = Parse(SvgPlot.Render(Plot(Minutely("", 0.5))));

        Assert.Single(All(root, "circle", "point"));
        Assert.Empty(All(root, "text", "no-data"));
    }

    [Fact]
    public void Render_EmptySeries_NoDataTextAndZeroToOne()
    {
        var svg = SvgPlot.Render(Plot(new PlotSeries("", [])));
        var root = Parse(svg);

        Assert.Equal("no data in this window", Single(root, "text", "no-data").Value);
        var yLabels = All(root, "g", "axis-y").Single().Descendants(Svg + "text").Select(t => t.Value).ToList();
        Assert.Equal("0", yLabels[0]);
        Assert.Equal("1", yLabels[^1]);
        Assert.Contains("No data in this window.", root.Element(Svg + "desc")!.Value, StringComparison.Ordinal);
        Assert.DoesNotContain("NaN", svg, StringComparison.Ordinal);
    }

    [Fact]
    public void Render_NoSeries_NoDataText() =>
        Assert.Single(All(Parse(SvgPlot.Render(Plot())), "text", "no-data"));

    [Fact]
    public void Render_OnlyGaps_NoDataText()
    {
        var root = Parse(SvgPlot.Render(Plot(Minutely("", null, double.NaN, null))));

        Assert.Single(All(root, "text", "no-data"));
        Assert.Equal("", (string?)Single(root, "path", "series").Attribute("d"));
    }

    [Fact]
    public void Render_TenThousandPoints_DownsampledAndEveryBreachKept()
    {
        var breachAt = new HashSet<int> { 1234, 5000, 8765 };
        var samples = Enumerable.Range(0, 10_000)
            .Select(i => new PlotSample(T0.AddSeconds(i), breachAt.Contains(i) ? 0.9 : 0.01 * (i % 7), 0.5, Breach: breachAt.Contains(i)))
            .ToList();
        var plot = Plot(new PlotSeries("", samples)) with { To = T0.AddSeconds(9_999) };

        var root = Parse(SvgPlot.Render(plot));

        var breaches = All(root, "rect", "breach").ToList();
        Assert.Equal(3, breaches.Count);
        Assert.Equal(
            ["2025-03-01T10:20:34Z", "2025-03-01T11:23:20Z", "2025-03-01T12:26:05Z"],
            breaches.Select(b => (string)b.Attribute("data-from")!));
        Assert.All(breaches, b => Assert.True((double)b.Attribute("width")! >= 1));
        var points = Points((string)Single(root, "path", "series").Attribute("d")!);
        Assert.True(points.Count <= 4 * 800, $"{points.Count} points");
        Assert.True(points.Count < 10_000 / 2, $"{points.Count} points");

        // The spikes survive: the line reaches the breaching value.
        var top = points.Min(p => p.Y);
        Assert.Equal(3, points.Count(p => p.Y == top));
        Assert.Equal("0.5", (string?)Single(root, "path", "threshold").Attribute("data-value"));
    }

    [Fact]
    public void Render_TenThousandPointsWithAGap_GapSurvivesDownsampling()
    {
        var samples = Enumerable.Range(0, 10_000)
            .Select(i => new PlotSample(T0.AddSeconds(i), i is >= 4000 and < 4003 ? null : 1.0 + (i % 3)))
            .ToList();
        var plot = Plot(new PlotSeries("", samples)) with { To = T0.AddSeconds(9_999) };

        var d = (string)Single(Parse(SvgPlot.Render(plot)), "path", "series").Attribute("d")!;

        Assert.Equal(2, Subpaths(d).Count);
    }

    [Fact]
    public void Render_BreachRun_SpansFromFirstBreachToTheNextSample()
    {
        var samples = new[] { false, true, true, false, false }
            .Select((b, i) => new PlotSample(T0.AddMinutes(i), 1, Breach: b)).ToList();

        var root = Parse(SvgPlot.Render(Plot(new PlotSeries("{pod=\"a\"}", samples))));

        var rect = Single(root, "rect", "breach");
        Assert.Equal("{pod=\"a\"}", (string?)rect.Attribute("data-series"));
        Assert.Equal("2025-03-01T10:01:00Z", (string?)rect.Attribute("data-from"));
        Assert.Equal("2025-03-01T10:03:00Z", (string?)rect.Attribute("data-to"));
        Assert.Equal("breach {pod=\"a\"} from 2025-03-01T10:01:00Z to 2025-03-01T10:03:00Z", rect.Element(Svg + "title")!.Value);

        // Drawn under the lines: before every series path.
        var order = root.Descendants().ToList();
        Assert.True(order.IndexOf(rect) < order.IndexOf(Single(root, "path", "series")));

        // x and width are the span on the time axis (one hour over the 724 units between the margins).
        var x = (double)rect.Attribute("x")!;
        var width = (double)rect.Attribute("width")!;
        Assert.Equal(60 + (724.0 / 60), x, 1);
        Assert.Equal(2 * 724.0 / 60, width, 1);
    }

    [Fact]
    public void Render_BreachEndingTheSeries_EndsOneSpacingLaterClippedToTheWindow()
    {
        var samples = Enumerable.Range(0, 4).Select(i => new PlotSample(T0.AddMinutes(50 + (3 * i)), 1, Breach: i >= 2)).ToList();

        var root = Parse(SvgPlot.Render(Plot(new PlotSeries("", samples))));

        var rect = Single(root, "rect", "breach");
        Assert.Equal("2025-03-01T10:56:00Z", (string?)rect.Attribute("data-from"));
        Assert.Equal("2025-03-01T11:00:00Z", (string?)rect.Attribute("data-to")); // 10:59 + 3m, clipped to 11:00
    }

    [Fact]
    public void Render_BreachOutsideTheWindow_NotDrawn()
    {
        var samples = new[] { new PlotSample(T0.AddHours(-2), 1, Breach: true), new PlotSample(T0.AddHours(-1), 1), new PlotSample(T0.AddMinutes(1), 1) };

        var root = Parse(SvgPlot.Render(Plot(new PlotSeries("", samples))));

        Assert.Empty(All(root, "rect", "breach"));
        Assert.Contains("No breaches.", root.Element(Svg + "desc")!.Value, StringComparison.Ordinal);
    }

    [Fact]
    public void Render_ConstantThreshold_HasDataValueAndOneHorizontalLine()
    {
        var samples = Enumerable.Range(0, 5).Select(i => new PlotSample(T0.AddMinutes(i * 10), 0.01 * i, Threshold: 0.1, Baseline: 1.0 / 3)).ToList();

        var root = Parse(SvgPlot.Render(Plot(new PlotSeries("", samples))));

        var threshold = Single(root, "path", "threshold");
        Assert.Equal("0.1", (string?)threshold.Attribute("data-value"));
        Assert.Equal("", (string?)threshold.Attribute("data-series"));
        Assert.Equal("MH", string.Concat(Commands().Matches((string)threshold.Attribute("d")!).Select(m => m.Value)));
        var baseline = Single(root, "path", "baseline");
        Assert.Equal((1.0 / 3).ToString("R", CultureInfo.InvariantCulture), (string?)baseline.Attribute("data-value"));
        Assert.Equal(1.0 / 3, double.Parse((string)baseline.Attribute("data-value")!, CultureInfo.InvariantCulture));
    }

    [Fact]
    public void Render_VaryingThreshold_StepPathWithoutDataValue()
    {
        double?[] thresholds = [0.1, 0.1, 0.2, 0.2, null, 0.3, 0.3];
        var samples = thresholds.Select((t, i) => new PlotSample(T0.AddMinutes(i * 5), 0.05, t)).ToList();

        var root = Parse(SvgPlot.Render(Plot(new PlotSeries("", samples))));

        var threshold = Single(root, "path", "threshold");
        Assert.Null(threshold.Attribute("data-value"));
        var d = (string)threshold.Attribute("d")!;

        // 0.1 to 10:10, up to 0.2 until 10:20 where the threshold stops; again from 10:25 at 0.3 to 10:30.
        Assert.Equal(["MHVH", "MH"], Subpaths(d));
        Assert.Empty(All(root, "path", "baseline"));
    }

    [Fact]
    public void Render_ThresholdsAndBaselines_InTheValueRange()
    {
        var samples = Enumerable.Range(0, 3).Select(i => new PlotSample(T0.AddMinutes(i), 0.01, Threshold: 0.5, Baseline: -0.2)).ToList();

        var root = Parse(SvgPlot.Render(Plot(new PlotSeries("", samples))));

        var labels = All(root, "g", "axis-y").Single().Descendants(Svg + "text").Select(t => double.Parse(t.Value, CultureInfo.InvariantCulture)).ToList();
        Assert.True(labels.Min() <= -0.2 && labels.Max() >= 0.5, string.Join(",", labels));
    }

    [Fact]
    public void Render_MarkersOutsideTheWindow_NotDrawn()
    {
        var plot = Plot(Minutely("", 1, 2)) with
        {
            Markers =
            [
                new PlotMarker(T0.AddMinutes(-1), MarkerKind.Change, "before"),
                new PlotMarker(T0.AddMinutes(20), MarkerKind.Change, "deploy v2"),
                new PlotMarker(T0.AddMinutes(61), MarkerKind.Incident, "after"),
            ],
        };

        var root = Parse(SvgPlot.Render(plot));

        var marker = Single(root, "g", "marker");
        Assert.Equal("marker marker-change", (string?)marker.Attribute("class"));
        Assert.Equal("0", (string?)marker.Attribute("tabindex"));
        Assert.Equal("2025-03-01T10:20:00Z", (string?)marker.Attribute("data-at"));
        Assert.Equal("deploy v2", (string?)marker.Attribute("aria-label"));
        Assert.Equal("deploy v2", marker.Element(Svg + "title")!.Value);
        Assert.Equal("deploy v2", Single(marker, "text", "marker-label").Value);
        var line = Single(marker, "line", "marker-line");
        Assert.Equal((double)line.Attribute("x1")!, (double)line.Attribute("x2")!);
        Assert.NotEqual((double)line.Attribute("y1")!, (double)line.Attribute("y2")!);
        Assert.Single(marker.Elements(), e => (string?)e.Attribute("class") == "marker-symbol");
        Assert.Equal("group", (string?)root.Attribute("role"));
        Assert.DoesNotContain("before", root.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Render_MarkerWithHref_IsALinkAndTheMarkerIsNotSeparatelyFocusable()
    {
        var plot = Plot(Minutely("", 1, 2)) with
        {
            Markers = [new PlotMarker(T0.AddMinutes(30), MarkerKind.Incident, "incident 7 opened", "/incidents/7?a=1&b=2")],
        };

        var root = Parse(SvgPlot.Render(plot));

        var link = Assert.Single(root.Descendants(Svg + "a"));
        Assert.Equal("/incidents/7?a=1&b=2", (string?)link.Attribute("href"));
        var marker = Assert.Single(link.Elements(Svg + "g"));
        Assert.Equal("marker marker-incident", (string?)marker.Attribute("class"));
        Assert.Null(marker.Attribute("tabindex"));
    }

    [Theory]
    [InlineData("javascript:alert(1)")]
    [InlineData("JavaScript:alert(1)")]
    [InlineData(" javascript:alert(1)")]
    [InlineData("java\tscript:alert(1)")]
    [InlineData("data:text/html,<script>alert(1)</script>")]
    public void Render_MarkerWithScriptHref_NotALink(string href)
    {
        var plot = Plot(Minutely("", 1, 2)) with { Markers = [new PlotMarker(T0.AddMinutes(30), MarkerKind.Decision, "rolled back", href)] };

        var root = Parse(SvgPlot.Render(plot));

        Assert.Empty(root.Descendants(Svg + "a"));
        Assert.Equal("0", (string?)Single(root, "g", "marker").Attribute("tabindex"));
    }

    [Theory]
    [InlineData("https://ci.example.com/deploys/42")]
    [InlineData("incidents/7")]
    [InlineData("#incident-7")]
    public void Render_MarkerWithOrdinaryHref_IsALink(string href)
    {
        var plot = Plot(Minutely("", 1, 2)) with { Markers = [new PlotMarker(T0.AddMinutes(30), MarkerKind.Change, "deploy", href)] };

        Assert.Equal(href, (string?)Assert.Single(Parse(SvgPlot.Render(plot)).Descendants(Svg + "a")).Attribute("href"));
    }

    [Fact]
    public void Render_HostileLabels_EscapedAndRoundTrip()
    {
        const string Label = "{path=\"/a<b>&c'\"}</svg><script>alert(1)</script>";
        var plot = Plot(new PlotSeries(Label, [new PlotSample(T0, 1, Breach: true), new PlotSample(T0.AddMinutes(1), 2)])) with
        {
            Title = "<b>title</b> & \"more\"",
            ValueLabel = "p99 <latency> (s)",
            Markers = [new PlotMarker(T0.AddMinutes(1), MarkerKind.Change, "deploy \"<v2>\" & co", "/x?a=\"<&>\"")],
        };

        var svg = SvgPlot.Render(plot);
        var root = Parse(svg);

        Assert.DoesNotContain("<script", svg, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("<b>", svg, StringComparison.Ordinal);
        Assert.Empty(root.Descendants(Svg + "script"));
        Assert.Equal(Label, (string?)Single(root, "path", "series").Attribute("data-series"));
        Assert.Equal(Label, (string?)Single(root, "rect", "breach").Attribute("data-series"));
        Assert.Equal("<b>title</b> & \"more\"", root.Element(Svg + "title")!.Value);
        Assert.Equal("p99 <latency> (s)", Single(root, "text", "axis-label").Value);
        Assert.Equal("deploy \"<v2>\" & co", (string?)Single(root, "g", "marker").Attribute("aria-label"));
        Assert.Equal("/x?a=\"<&>\"", (string?)root.Descendants(Svg + "a").Single().Attribute("href"));
        Assert.Contains(Label, root.Element(Svg + "desc")!.Value, StringComparison.Ordinal);
    }

    [Fact]
    public void Render_SameInput_SameOutput()
    {
        static TriggerPlot Make() => Plot(
            new PlotSeries("a", [.. Enumerable.Range(0, 3000).Select(i => new PlotSample(T0.AddSeconds(i), Math.Sin(i / 50.0), 0.8, 0.1, Math.Sin(i / 50.0) > 0.8))]),
            Minutely("b", 0.1, null, 0.3)) with
        {
            Markers = [new PlotMarker(T0.AddMinutes(5), MarkerKind.Decision, "asked")],
        };

        Assert.Equal(SvgPlot.Render(Make()), SvgPlot.Render(Make()));
    }

    [Fact]
    public void Render_Coordinates_InvariantWithAtMostTwoDecimals()
    {
        var samples = Enumerable.Range(0, 97).Select(i => new PlotSample(T0.AddSeconds(i * 37), Math.PI * i / 7, Math.E)).ToList();

        var root = Parse(SvgPlot.Render(Plot(new PlotSeries("", samples)), new PlotSize(777, 233)));

        string[] numeric = ["x", "y", "x1", "x2", "y1", "y2", "cx", "cy", "r", "width", "height"];
        var values = root.Descendants().Attributes().Where(a => numeric.Contains(a.Name.LocalName)).Select(a => a.Value)
            .Concat(root.Descendants(Svg + "path").SelectMany(p => Regex.Split((string)p.Attribute("d")!, "[MLHVZ,]")).Where(v => v.Length > 0))
            .ToList();
        Assert.NotEmpty(values);
        Assert.All(values, v => Assert.Matches(@"^-?\d+(\.\d{1,2})?$", v));
    }

    [Fact]
    public void Render_SeveralSeries_ColourClassesAndLegend()
    {
        var series = Enumerable.Range(0, 9).Select(i => Minutely($"{{pod=\"p{i}\"}}", i, i + 1)).ToArray();

        var root = Parse(SvgPlot.Render(Plot(series), new PlotSize(1600, 300)));

        var classes = All(root, "path", "series").Select(p => (string?)p.Attribute("class")).ToList();
        Assert.Equal(["series s0", "series s1", "series s2", "series s3", "series s4", "series s5", "series s6", "series s7", "series s0"], classes);
        var legend = Single(root, "g", "legend");
        var items = All(legend, "g", "legend-item").ToList();
        Assert.Equal(series.Select(s => s.Label), items.Take(9).Select(i => (string?)i.Attribute("data-series")));
        Assert.Equal("legend-swatch legend-series s0", (string?)items[8].Element(Svg + "line")!.Attribute("class"));
    }

    [Fact]
    public void Render_Legend_HasKeysForWhatIsDrawn()
    {
        var samples = new[] { new PlotSample(T0, 1, 2, Breach: true), new PlotSample(T0.AddMinutes(1), 1, 2) };

        var root = Parse(SvgPlot.Render(Plot(new PlotSeries("{v=\"1\"}", samples), Minutely("{v=\"2\"}", 1, 2))));

        var texts = Single(root, "g", "legend").Descendants(Svg + "text").Select(t => t.Value).ToList();
        Assert.Equal(["{v=\"1\"}", "{v=\"2\"}", "threshold", "breach"], texts);
        Assert.Single(All(root, "line", "legend-threshold"));
        Assert.Single(All(root, "rect", "legend-breach"));
    }

    [Fact]
    public void Render_OneUnlabelledSeriesWithoutThreshold_NoLegend() =>
        Assert.Empty(All(Parse(SvgPlot.Render(Plot(Minutely("", 1, 2)))), "g", "legend"));

    [Fact]
    public void Render_Description_WindowLastValuesThresholdsAndBreaches()
    {
        var a = new PlotSeries("{v=\"1\"}", [
            new PlotSample(T0, 0.01, 0.05),
            new PlotSample(T0.AddMinutes(1), 0.07, 0.05, Breach: true),
            new PlotSample(T0.AddMinutes(2), 0.02, 0.05),
            new PlotSample(T0.AddMinutes(3), null, 0.05),
        ]);
        var plot = Plot(a, Minutely("{v=\"2\"}")) with { Markers = [new PlotMarker(T0.AddMinutes(2), MarkerKind.Decision, "rolled back")] };

        var desc = Parse(SvgPlot.Render(plot)).Element(Svg + "desc")!.Value;

        Assert.Equal(
            "error ratio of error ratio above 5% from 2025-03-01T10:00:00Z to 2025-03-01T11:00:00Z. "
            + "{v=\"1\"}: last value 0.02 at 2025-03-01T10:02:00Z, threshold 0.05. {v=\"2\"}: no data. "
            + "1 breach: {v=\"1\"} from 2025-03-01T10:01:00Z to 2025-03-01T10:02:00Z. "
            + "1 marker: decision at 2025-03-01T10:02:00Z: rolled back.",
            desc);
    }

    [Fact]
    public void Render_SamplesOutsideTheWindow_NotDrawn()
    {
        var samples = new[] { new PlotSample(T0.AddMinutes(-5), 1000), new PlotSample(T0, 1), new PlotSample(T0.AddMinutes(1), 2), new PlotSample(T0.AddMinutes(65), -1000) };

        var root = Parse(SvgPlot.Render(Plot(new PlotSeries("", samples))));

        Assert.Equal(2, Points((string)Single(root, "path", "series").Attribute("d")!).Count);
        var labels = All(root, "g", "axis-y").Single().Descendants(Svg + "text").Select(t => t.Value).ToList();
        Assert.DoesNotContain("1k", labels);
    }

    [Fact]
    public void Render_TimeAxis_LabelsAtNiceSteps()
    {
        var root = Parse(SvgPlot.Render(Plot(Minutely("", 1, 2)) with { To = T0.AddHours(3) }));

        var labels = All(root, "g", "axis-x").Single().Descendants(Svg + "text").Select(t => t.Value).ToList();
        Assert.Equal(["10:00", "10:30", "11:00", "11:30", "12:00", "12:30", "13:00"], labels);
    }

    [Fact]
    public void Css_CoversTheClassesInLightAndDark()
    {
        var css = PlotStyles.Css;

        Assert.Contains("@media (prefers-color-scheme: dark)", css, StringComparison.Ordinal);
        foreach (var cls in new[] { ".series", ".point", ".threshold", ".baseline", ".breach", ".marker-change", ".marker-decision", ".marker-incident", ".marker-label", ".no-data", ".legend", ".grid", ".axis", ":focus-visible", ".s7" })
        {
            Assert.Contains(cls, css, StringComparison.Ordinal);
        }

        Assert.DoesNotContain("url(", css, StringComparison.Ordinal);
        Assert.DoesNotContain("@import", css, StringComparison.Ordinal);
        Assert.DoesNotContain("@font-face", css, StringComparison.Ordinal);
    }
}
