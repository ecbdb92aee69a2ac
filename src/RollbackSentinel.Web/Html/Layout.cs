using RollbackSentinel.Web.Plots;

namespace RollbackSentinel.Web.Html;

/// <summary>
/// The page around every view, the status page's and the backtest report's: one document with its CSS inline (nothing
/// fetched: the report opens offline, the status page sets a strict content security policy), readable without
/// JavaScript, on a phone (viewport, tables that scroll sideways) and in dark mode (<c>prefers-color-scheme</c>).
/// </summary>
public static class Layout
{
    /// <summary>The page's CSS, layout and plots.</summary>
    public static string Css { get; } = PageCss + PlotStyles.Css;

    /// <summary>Writes the head and opens the body and main; <paramref name="nav"/> is markup for the header's links (ours).</summary>
    public static void Begin(Html html, string title, string? nav = null)
    {
        ArgumentNullException.ThrowIfNull(html);
        html.Raw("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">")
            .Raw("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">")
            .Raw("<meta name=\"color-scheme\" content=\"light dark\">")
            .Element("title", title + " - RollbackSentinel")
            .Raw("<style>").Raw(Css).Raw("</style></head><body>")
            .Raw("<a class=\"skip\" href=\"#main\">Skip to content</a>")
            .Raw("<header class=\"top\"><span class=\"brand\">RollbackSentinel</span>");
        if (nav is not null)
        {
            html.Raw("<nav aria-label=\"main\">").Raw(nav).Raw("</nav>");
        }

        html.Raw("</header><main id=\"main\" tabindex=\"-1\">").Element("h1", title);
    }

    /// <summary>Closes main, body and the document.</summary>
    public static void End(Html html, string? footer = null)
    {
        ArgumentNullException.ThrowIfNull(html);
        html.Raw("</main>");
        if (footer is not null)
        {
            html.Open("footer", ("class", "foot")).Text(footer).Close("footer");
        }

        html.Raw("</body></html>\n");
    }

    /// <summary>A state as a badge: its word (never colour alone) with a class for its colour.</summary>
    public static void Badge(Html html, string state)
    {
        ArgumentNullException.ThrowIfNull(html);
        html.Element("span", state, ("class", $"badge badge-{state.ToLowerInvariant().Replace(' ', '-')}"));
    }

    private const string PageCss = """
:root{--bg:#fff;--fg:#1b1f24;--muted:#57606a;--line:#d0d7de;--panel:#f6f8fa;--link:#0550ae;--ok:#1a7f37;--bad:#cf222e;--warn:#9a6700;--info:#0550ae;--focus:#0969da}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--fg:#e6edf3;--muted:#9198a1;--line:#3d444d;--panel:#161b22;--link:#4493f8;--ok:#3fb950;--bad:#f85149;--warn:#d29922;--info:#4493f8;--focus:#4493f8}}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif}
a{color:var(--link)}
:focus-visible{outline:3px solid var(--focus);outline-offset:2px}
.skip{position:absolute;left:-999px;top:0;background:var(--bg);padding:.5em}
.skip:focus{left:.5em}
.top{display:flex;flex-wrap:wrap;gap:.5em 1.5em;align-items:center;padding:.6em 1em;border-bottom:1px solid var(--line);background:var(--panel)}
.brand{font-weight:700}
.top nav{display:flex;flex-wrap:wrap;gap:1em;align-items:center}
.top nav form{display:inline;margin:0}
main{padding:1em;max-width:1200px;margin:0 auto}
h1{font-size:1.5em;margin:.2em 0 .6em}
h2{font-size:1.2em;margin:1.4em 0 .5em}
h3{font-size:1.05em;margin:1.2em 0 .4em}
.muted{color:var(--muted)}
.scroll{overflow-x:auto;-webkit-overflow-scrolling:touch}
table{border-collapse:collapse;width:100%;font-size:.93em}
caption{text-align:left;font-weight:600;padding:.3em 0}
th,td{text-align:left;padding:.35em .6em;border-bottom:1px solid var(--line);vertical-align:top}
th{background:var(--panel);font-weight:600}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.92em;word-break:break-word}
.badge{display:inline-block;padding:0 .5em;border-radius:1em;border:1px solid currentColor;font-size:.85em;font-weight:600;white-space:nowrap}
.badge-ok,.badge-pass,.badge-resolved,.badge-open-gate,.badge-armed,.badge-acted{color:var(--ok)}
.badge-firing,.badge-breach,.badge-error,.badge-failed,.badge-closed-gate,.badge-acting{color:var(--bad)}
.badge-pending,.badge-inconclusive,.badge-awaiting,.badge-disarmed,.badge-dry-run{color:var(--warn)}
.badge-approved,.badge-denied,.badge-snoozed,.badge-timedout{color:var(--info)}
.card{border:1px solid var(--line);border-radius:8px;padding:.8em 1em;margin:.8em 0;background:var(--bg)}
.plotbox{margin:.6em 0 1.2em}
.plotbox figcaption{font-weight:600;margin-bottom:.2em}
.plotbox svg{display:block;width:100%;height:auto}
.toc ul{margin:.3em 0;padding-left:1.2em}
table.breaches{margin:.4em 0 .2em;font-size:.88em}
.plotbox .timeline{margin-top:.4em}
.timeline{list-style:none;padding:0;margin:0;border-left:3px solid var(--line)}
.timeline li{padding:.25em 0 .25em .8em}
.timeline time{font-variant-numeric:tabular-nums;color:var(--muted);margin-right:.5em}
form.inline{display:inline}
.actions{display:flex;flex-wrap:wrap;gap:.6em;align-items:end;margin:.6em 0}
label{display:block;font-weight:600;margin:.4em 0 .2em}
input[type=text],input[type=password],select{font:inherit;padding:.4em .5em;border:1px solid var(--line);border-radius:6px;background:var(--bg);color:var(--fg);min-width:16em;max-width:100%}
button{font:inherit;padding:.4em 1em;border-radius:6px;border:1px solid var(--line);background:var(--panel);color:var(--fg);cursor:pointer;min-height:2.2em}
button.primary{background:var(--ok);border-color:var(--ok);color:#fff}
button.danger{background:var(--bad);border-color:var(--bad);color:#fff}
.notice{border-left:4px solid var(--info);padding:.4em .8em;background:var(--panel);margin:.8em 0}
.notice.error{border-color:var(--bad)}
.foot{padding:1em;color:var(--muted);font-size:.85em;text-align:center}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.2em 1em;margin:.5em 0}
dl.facts dt{font-weight:600}
dl.facts dd{margin:0}
@media (max-width:600px){main{padding:.6em}dl.facts{grid-template-columns:1fr}input[type=text],input[type=password]{min-width:0;width:100%}}

""";
}
