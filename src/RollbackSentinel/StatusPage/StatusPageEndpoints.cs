using Microsoft.AspNetCore.Authorization;
using RollbackSentinel.Api;
using RollbackSentinel.Core.Changes;
using RollbackSentinel.Core.Incidents;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Daemon;
using Incident = RollbackSentinel.Core.Incidents.Incident;

namespace RollbackSentinel.StatusPage;

/// <summary>
/// The status page: <c>/</c> (every policy and series), <c>/policies/{name}</c> (a plot per trigger over a window),
/// <c>/incidents/{id}</c> (timeline, evidence, and Approve / Deny / Snooze for an admin), <c>/login</c> and
/// <c>/logout</c>. Server-rendered HTML, no script. Reading needs a signed-in session of any token; answering needs a
/// session of the admin token and the session's CSRF token in the form (the cookie is also SameSite=Strict, and a
/// form from another origin is refused by its Origin header).
/// </summary>
internal static class StatusPageEndpoints
{
    /// <summary>The answers the incident page offers (Ack stays with Slack, the API and the CLI).</summary>
    public static readonly IReadOnlyList<string> PageAnswers = [Answers.Approve, Answers.Deny, Answers.Snooze];

    /// <summary>The channel recorded with an answer given on the status page.</summary>
    public const string Channel = "web";

    public const string CsrfField = "csrf";

    public static void MapStatusPage(this WebApplication app)
    {
        var pages = app.MapGroup(string.Empty).RequireAuthorization(StatusPageAuthentication.Policy).WithBodyLimit(InputLimits.MaxApiBody);
        pages.AddEndpointFilter(async (context, next) =>
        {
            StatusPageResponses.Secure(context.HttpContext);
            return await next(context).ConfigureAwait(false);
        });

        pages.MapGet("/login", Login).AllowAnonymous();

        // Browsers ask for it on every page; without this they would be told to send a bearer token.
        app.MapGet("/favicon.ico", () => Results.NoContent()).AllowAnonymous();
        pages.MapPost("/login", SignInAsync).AllowAnonymous().DisableAntiforgery();
        pages.MapPost("/logout", SignOut).DisableAntiforgery();
        pages.MapGet("/", OverviewAsync);
        pages.MapGet("/policies/{name}", PolicyAsync);
        pages.MapGet("/incidents/{id:long}", IncidentAsync);
        pages.MapPost("/incidents/{id:long}/{answer}", AnswerAsync).DisableAntiforgery();
    }

    private static IResult Login(HttpContext context, string? @return) => LoginForm(context, SafeReturn(@return), error: null, StatusCodes.Status200OK);

    /// <summary>
    /// The sign-in form, with a fresh CSRF token that is also its cookie (double submit): another site's form cannot
    /// know it. Shown again with <paramref name="error"/> after a refused attempt.
    /// </summary>
    private static IResult LoginForm(HttpContext context, string back, string? error, int statusCode)
    {
        var csrf = StatusSessions.NewSecret();
        StatusPageAuthentication.SetCookie(context, StatusPageAuthentication.LoginCookieName, csrf, TimeSpan.FromMinutes(30));
        return StatusPageResponses.Page(StatusPages.Login(back, csrf, error), statusCode);
    }

    private static async Task<IResult> SignInAsync(HttpContext context, ApiToken tokens, StatusSessions sessions)
    {
        if (!context.Request.HasFormContentType)
        {
            return StatusPageResponses.Page(StatusPageResponses.MessagePage("Sign in", "send the sign-in form", "/login"), StatusCodes.Status400BadRequest);
        }

        var form = await context.Request.ReadFormAsync(context.RequestAborted).ConfigureAwait(false);
        var back = SafeReturn(form["return"]);
        context.Request.Cookies.TryGetValue(StatusPageAuthentication.LoginCookieName, out var expected);
        if (!CrossOriginSafe(context) || !StatusSessions.SameSecret(expected, form[CsrfField]))
        {
            return StatusPageResponses.Page(
                StatusPageResponses.MessagePage("Sign in", "The sign-in form had expired or came from another site: open the sign-in page again.", "/login"),
                StatusCodes.Status403Forbidden);
        }

        var scope = tokens.ScopeOf(ApiToken.Normalize(form["token"].ToString()));
        if (scope is null)
        {
            return LoginForm(context, back, "That is not a token this sentinel knows.", StatusCodes.Status401Unauthorized);
        }

        var name = form["name"].ToString().Trim();
        if (InputLimits.CheckName("name", name) is { } problem)
        {
            return LoginForm(context, back, problem, StatusCodes.Status400BadRequest);
        }

        // Signing in again ends the session the browser had.
        if (context.Request.Cookies.TryGetValue(StatusPageAuthentication.CookieName, out var previous) && !string.IsNullOrEmpty(previous))
        {
            sessions.End(previous);
        }

        var session = sessions.Create(scope, name.Length > 0 ? name : $"status page ({scope} token)");
        StatusPageAuthentication.DeleteCookie(context, StatusPageAuthentication.LoginCookieName);
        StatusPageAuthentication.SetCookie(context, StatusPageAuthentication.CookieName, session.Id, maxAge: null);
        return SeeOther(back);
    }

    private static async Task<IResult> SignOut(HttpContext context, StatusSessions sessions)
    {
        if (await RefuseFormAsync(context, adminOnly: false).ConfigureAwait(false) is { } refused)
        {
            return refused;
        }

        sessions.End(StatusPageAuthentication.SessionOf(context)!.Id);
        StatusPageAuthentication.DeleteCookie(context, StatusPageAuthentication.CookieName);
        return SeeOther("/login");
    }

    private static async Task<IResult> OverviewAsync(HttpContext context, PolicyRegistry registry, IIncidentStore incidents, IChangeStore changes, TimeProvider time, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var rows = new List<StatusPages.PolicyRow>();
        var open = new List<Incident>();
        foreach (var entry in registry.Entries)
        {
            // Each policy's gate as the gate endpoint reads it (with all its open incidents, not a list of recent ones).
            var gate = await PolicyGates.ReadAsync(entry, LabelSet.Empty, changes, incidents, now, ct).ConfigureAwait(false);
            open.AddRange(gate.Open);
            rows.Add(StatusPages.PolicyRow.From(entry, gate, now));
        }

        var openIds = open.Select(i => i.Id).ToHashSet();

        // And those of policies no longer loaded (removed from the rules while an incident was open).
        open.AddRange((await incidents.ListIncidentsAsync(null, 200, ct).ConfigureAwait(false)).Where(i => i.IsOpen && !openIds.Contains(i.Id)));
        return StatusPageResponses.Page(StatusPages.Overview(
            Viewer(context), rows, open.OrderByDescending(i => i.OpenedAt).ToArray(), registry.Files.Where(f => !f.Valid).ToArray(), registry.RulesVersion, now));
    }

    private static async Task<IResult> PolicyAsync(
        HttpContext context, string name, string? window, PolicyRegistry registry, PolicyPlots plots, IIncidentStore incidents, IChangeStore changes, TimeProvider time, CancellationToken ct)
    {
        if (registry.Find(name) is not { } entry)
        {
            return StatusPageResponses.Page(StatusPageResponses.MessagePage("Policy not found", $"There is no policy '{InputLimits.Shorten(name)}'."), StatusCodes.Status404NotFound);
        }

        if (!StatusPages.TryWindow(window, out var span, out var windowError))
        {
            return StatusPageResponses.Page(StatusPageResponses.MessagePage("Bad window", windowError, $"/policies/{Uri.EscapeDataString(name)}"), StatusCodes.Status400BadRequest);
        }

        var now = time.GetUtcNow();
        var replay = await plots.GetAsync(entry.Policy, span, ct).ConfigureAwait(false);
        var gate = await PolicyGates.ReadAsync(entry, LabelSet.Empty, changes, incidents, now, ct).ConfigureAwait(false);
        var recent = await incidents.ListIncidentsAsync(null, 500, ct).ConfigureAwait(false);

        // Its open incidents always (an old one of a quiet policy may be beyond the recent list), then its recent ones.
        var own = gate.Open.Concat(recent.Where(i => i.Policy == entry.Policy.Name && gate.Open.All(o => o.Id != i.Id))).OrderByDescending(i => i.OpenedAt).ToArray();
        var row = StatusPages.PolicyRow.From(entry, gate, now);
        return StatusPageResponses.Page(StatusPages.Policy(Viewer(context), entry, row, replay, gate.History, own, span, now));
    }

    private static async Task<IResult> IncidentAsync(HttpContext context, long id, string? answered, string? outcome, IIncidentStore store, TimeProvider time, CancellationToken ct)
    {
        var timeline = await store.GetIncidentAsync(id, ct).ConfigureAwait(false);
        if (timeline is null)
        {
            return StatusPageResponses.Page(StatusPageResponses.MessagePage("Incident not found", $"There is no incident {id}."), StatusCodes.Status404NotFound);
        }

        // The result of an answer comes back as enumerated values only: nothing a link can make the page say.
        string? notice = answered is not null && PageAnswers.Contains(answered) && outcome is "applied" or "refused"
            ? outcome == "applied" ? $"Your answer ({answered}) was recorded." : $"Your answer ({answered}) was not applied: the incident can no longer take it (see its timeline)."
            : null;
        return StatusPageResponses.Page(StatusPages.Incident(Viewer(context), timeline, time.GetUtcNow(), notice));
    }

    private static async Task<IResult> AnswerAsync(HttpContext context, long id, string answer, ConfirmationService confirmations, CancellationToken ct)
    {
        if (!PageAnswers.Contains(answer))
        {
            return StatusPageResponses.Page(StatusPageResponses.MessagePage("Unknown answer", $"'{InputLimits.Shorten(answer)}' is not an answer: use approve, deny or snooze."), StatusCodes.Status404NotFound);
        }

        if (await RefuseFormAsync(context, adminOnly: true).ConfigureAwait(false) is { } refused)
        {
            return refused;
        }

        var form = await context.Request.ReadFormAsync(ct).ConfigureAwait(false);
        var reason = form["reason"].ToString();
        if (InputLimits.CheckReason("reason", reason) is { } problem)
        {
            return StatusPageResponses.Page(StatusPageResponses.MessagePage("Bad reason", problem, $"/incidents/{id}"), StatusCodes.Status400BadRequest);
        }

        var session = StatusPageAuthentication.SessionOf(context)!;
        var result = await confirmations.AnswerAsync(id, answer, session.Name, Channel, string.IsNullOrWhiteSpace(reason) ? null : reason, ct).ConfigureAwait(false);
        if (result.Incident is null)
        {
            return StatusPageResponses.Page(StatusPageResponses.MessagePage("Incident not found", result.Message), StatusCodes.Status404NotFound);
        }

        return SeeOther($"/incidents/{id}?answered={answer}&outcome={(result.Accepted ? "applied" : "refused")}");
    }

    /// <summary>
    /// A form post that must not be taken: not a form, from another origin, without the session's CSRF token, or (for
    /// <paramref name="adminOnly"/>) from a session whose token may only read. Null when it may go on.
    /// </summary>
    private static async Task<IResult?> RefuseFormAsync(HttpContext context, bool adminOnly)
    {
        var session = StatusPageAuthentication.SessionOf(context);
        if (session is null)
        {
            return StatusPageResponses.Page(StatusPageResponses.MessagePage("Sign in first", "Sign in again and retry.", "/login"), StatusCodes.Status401Unauthorized);
        }

        if (!context.Request.HasFormContentType)
        {
            return StatusPageResponses.Page(StatusPageResponses.MessagePage("Not a form", "Send the page's form."), StatusCodes.Status400BadRequest);
        }

        var form = await context.Request.ReadFormAsync(context.RequestAborted).ConfigureAwait(false);
        if (!CrossOriginSafe(context) || !StatusSessions.CsrfMatches(session, form[CsrfField]))
        {
            return StatusPageResponses.Page(
                StatusPageResponses.MessagePage("Refused", "The form did not carry this session's CSRF token (or came from another site): reload the page and try again."),
                StatusCodes.Status403Forbidden);
        }

        if (adminOnly && !ApiScopes.Allows(session.Scope, ApiScopes.Admin))
        {
            return StatusPageResponses.Page(StatusPageResponses.MessagePage("Not allowed", ApiScopes.Describe(session.Scope)), StatusCodes.Status403Forbidden);
        }

        return null;
    }

    /// <summary>A form post from another origin (its Origin header, when the browser sends one, names another host) is refused.</summary>
    private static bool CrossOriginSafe(HttpContext context)
    {
        var origin = context.Request.Headers.Origin.ToString();
        if (string.IsNullOrEmpty(origin))
        {
            return true;
        }

        return Uri.TryCreate(origin, UriKind.Absolute, out var uri)
            && string.Equals($"{uri.Host}{(uri.IsDefaultPort ? string.Empty : ":" + uri.Port)}", context.Request.Host.Value, StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>Where to go after signing in: a path on this site only (never "//host" or a URL), else the overview.</summary>
    private static string SafeReturn(string? back) =>
        back is { Length: > 0 and < 2000 } b && b[0] == '/' && !b.StartsWith("//", StringComparison.Ordinal) && !b.StartsWith("/\\", StringComparison.Ordinal)
            && b.All(c => char.IsAscii(c) && !char.IsControl(c)) // a Location header is ASCII (a link with "é" would fail the sign-in)
            ? b
            : "/";

    private static IResult SeeOther(string location) => new SeeOtherResult(location);

    private static StatusPages.Viewer Viewer(HttpContext context)
    {
        var session = StatusPageAuthentication.SessionOf(context)!;
        return new StatusPages.Viewer(session.Name, session.Scope, session.Csrf, ApiScopes.Allows(session.Scope, ApiScopes.Admin));
    }

    /// <summary>303 See Other: after a form post, the browser GETs the next page (a reload does not post again).</summary>
    private sealed class SeeOtherResult(string location) : IResult
    {
        public Task ExecuteAsync(HttpContext httpContext)
        {
            httpContext.Response.StatusCode = StatusCodes.Status303SeeOther;
            httpContext.Response.Headers.Location = location;
            return Task.CompletedTask;
        }
    }
}
