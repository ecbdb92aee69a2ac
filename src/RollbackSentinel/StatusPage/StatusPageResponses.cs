using RollbackSentinel.Web.Html;

namespace RollbackSentinel.StatusPage;

/// <summary>How every status page response goes out: HTML, not cached, not framed, no script allowed to run at all.</summary>
internal static class StatusPageResponses
{
    /// <summary>
    /// Nothing but our inline CSS and our own forms: no script from anywhere (the pages have none), no frames, no
    /// fetches. The CSS is inline (<c>style-src 'unsafe-inline'</c>), which without script exposes nothing.
    /// </summary>
    public const string ContentSecurityPolicy =
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

    public static void Secure(HttpContext context)
    {
        var headers = context.Response.Headers;
        headers.ContentSecurityPolicy = ContentSecurityPolicy;
        headers.XContentTypeOptions = "nosniff";
        headers.XFrameOptions = "DENY";
        // Not no-referrer: with it, browsers send "Origin: null" on our own form posts, and the Origin check refuses those.
        headers["Referrer-Policy"] = "same-origin";
        headers.CacheControl = "no-store";
    }

    public static IResult Page(string html, int statusCode = StatusCodes.Status200OK) =>
        Results.Content(html, "text/html; charset=utf-8", System.Text.Encoding.UTF8, statusCode);

    /// <summary>A page that only says something (a refusal, an error), with a way back.</summary>
    public static string MessagePage(string title, string text, string? back = "/")
    {
        var html = new Html();
        Layout.Begin(html, title);
        html.Element("p", text, ("class", "notice error"));
        if (back is not null)
        {
            html.Open("p").Element("a", "Back", ("href", back)).Close("p");
        }

        Layout.End(html);
        return html.ToString();
    }

    public static async Task Message(HttpContext context, int statusCode, string title, string text)
    {
        Secure(context);
        context.Response.StatusCode = statusCode;
        context.Response.ContentType = "text/html; charset=utf-8";
        await context.Response.WriteAsync(MessagePage(title, text), context.RequestAborted).ConfigureAwait(false);
    }
}
