namespace RollbackSentinel.Web.Plots;

/// <summary>
/// The stylesheet for <see cref="SvgPlot"/>'s classes, once per page: light and dark (prefers-color-scheme), series
/// colours <c>s0</c>..<c>s7</c> that stay apart from the red of thresholds and breaches, marker labels shown only on
/// hover or keyboard focus, and a visible focus ring. Colours are custom properties (<c>--plot-*</c>) a page may override.
/// </summary>
public static class PlotStyles
{
    public const string Css = """
        svg.plot {
          --plot-fg: #1f2328; --plot-muted: #59636e; --plot-grid: #d8dee4; --plot-axis: #818b98;
          --plot-s0: #0969da; --plot-s1: #b35900; --plot-s2: #1a7f37; --plot-s3: #8250df;
          --plot-s4: #bf3989; --plot-s5: #0e7490; --plot-s6: #7d4e24; --plot-s7: #5c6e00;
          --plot-threshold: #d1242f; --plot-baseline: #6e7781; --plot-breach: rgba(209, 36, 47, 0.16);
          --plot-change: #57606a; --plot-decision: #9a6700; --plot-incident: #d1242f;
          --plot-focus: #0969da; --plot-label-bg: #ffffff;
          display: block; width: 100%; height: auto; overflow: visible;
          font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
          font-size: 11px; fill: var(--plot-fg);
        }
        @media (prefers-color-scheme: dark) {
          svg.plot {
            --plot-fg: #e6edf3; --plot-muted: #9198a1; --plot-grid: #30363d; --plot-axis: #656c76;
            --plot-s0: #4493f8; --plot-s1: #f0883e; --plot-s2: #3fb950; --plot-s3: #a371f7;
            --plot-s4: #f778ba; --plot-s5: #39c5cf; --plot-s6: #d29a6a; --plot-s7: #b9c940;
            --plot-threshold: #ff7b72; --plot-baseline: #8b949e; --plot-breach: rgba(248, 81, 73, 0.24);
            --plot-change: #9198a1; --plot-decision: #d29922; --plot-incident: #ff7b72;
            --plot-focus: #58a6ff; --plot-label-bg: #161b22;
          }
        }
        svg.plot .s0 { --plot-c: var(--plot-s0); } svg.plot .s1 { --plot-c: var(--plot-s1); }
        svg.plot .s2 { --plot-c: var(--plot-s2); } svg.plot .s3 { --plot-c: var(--plot-s3); }
        svg.plot .s4 { --plot-c: var(--plot-s4); } svg.plot .s5 { --plot-c: var(--plot-s5); }
        svg.plot .s6 { --plot-c: var(--plot-s6); } svg.plot .s7 { --plot-c: var(--plot-s7); }
        svg.plot .grid line { stroke: var(--plot-grid); stroke-width: 1; shape-rendering: crispEdges; }
        svg.plot .axis-line, svg.plot .axis .tick line { stroke: var(--plot-axis); stroke-width: 1; shape-rendering: crispEdges; }
        svg.plot .axis text { fill: var(--plot-muted); font-variant-numeric: tabular-nums; }
        svg.plot .axis-label { fill: var(--plot-muted); }
        svg.plot .breach, svg.plot .legend-breach { fill: var(--plot-breach); stroke: none; }
        svg.plot .series, svg.plot .legend-series { fill: none; stroke: var(--plot-c, var(--plot-s0)); stroke-width: 1.75; stroke-linejoin: round; stroke-linecap: round; }
        svg.plot .point { fill: var(--plot-c, var(--plot-s0)); stroke: none; }
        svg.plot .threshold, svg.plot .legend-threshold { fill: none; stroke: var(--plot-threshold); stroke-width: 1.5; stroke-dasharray: 6 3; }
        svg.plot .baseline, svg.plot .legend-baseline { fill: none; stroke: var(--plot-baseline); stroke-width: 1.25; stroke-dasharray: 2 3; }
        svg.plot .legend text { fill: var(--plot-fg); }
        svg.plot .no-data { fill: var(--plot-muted); font-size: 13px; }
        svg.plot .marker-change { --plot-m: var(--plot-change); }
        svg.plot .marker-decision { --plot-m: var(--plot-decision); }
        svg.plot .marker-incident { --plot-m: var(--plot-incident); }
        svg.plot .marker-line { stroke: var(--plot-m); stroke-width: 1.25; stroke-dasharray: 3 2; }
        svg.plot .marker-hit { stroke: transparent; stroke-width: 10; pointer-events: stroke; }
        svg.plot .marker-symbol { fill: var(--plot-m); stroke: var(--plot-label-bg); stroke-width: 1; }
        svg.plot .marker { cursor: default; outline: none; }
        svg.plot a .marker { cursor: pointer; }
        svg.plot .marker-label {
          visibility: hidden; fill: var(--plot-fg); paint-order: stroke; stroke: var(--plot-label-bg);
          stroke-width: 4px; stroke-linejoin: round; pointer-events: none;
        }
        svg.plot .marker:hover .marker-label, svg.plot .marker:focus .marker-label,
        svg.plot .marker:focus-within .marker-label, svg.plot a:focus .marker-label,
        svg.plot a:hover .marker-label { visibility: visible; }
        svg.plot .marker:hover .marker-line, svg.plot .marker:focus .marker-line, svg.plot a:focus .marker-line { stroke-width: 2.5; stroke-dasharray: none; }
        svg.plot .marker:focus-visible, svg.plot a:focus-visible { outline: 2px solid var(--plot-focus); outline-offset: 2px; }
        svg.plot .marker:focus-visible .marker-symbol, svg.plot a:focus-visible .marker-symbol { stroke: var(--plot-focus); stroke-width: 2.5; }
        @media (forced-colors: active) {
          svg.plot .series, svg.plot .threshold, svg.plot .baseline, svg.plot .marker-line { stroke: CanvasText; }
          svg.plot .point, svg.plot .marker-symbol { fill: CanvasText; }
          svg.plot .breach { fill: Highlight; fill-opacity: 0.3; }
        }

        """;
}
