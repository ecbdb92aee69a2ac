using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.Extensions.Options;
using RollbackSentinel.Api;

namespace RollbackSentinel.StatusPage;

/// <summary>
/// The status page's sign-in: a session cookie (<see cref="CookieName"/>: HttpOnly, SameSite=Strict, Secure over HTTPS)
/// set by the sign-in form for a valid API token, as its own authentication scheme. It authenticates the status page's
/// endpoints only: the API (<c>/api/v1</c>) still needs the bearer token, so a cookie can never make an API call.
/// </summary>
internal static class StatusPageAuthentication
{
    public const string Scheme = "SentinelSession";

    public const string Policy = "status-page";

    public const string CookieName = "rs_session";

    /// <summary>The sign-in form's own CSRF cookie (double submit): nobody else's page can sign a browser in.</summary>
    public const string LoginCookieName = "rs_login";

    public static IServiceCollection AddStatusPage(this IServiceCollection services)
    {
        services.AddSingleton<StatusSessions>();
        services.AddSingleton<PolicyPlots>();
        services.AddAuthentication().AddScheme<AuthenticationSchemeOptions, StatusSessionHandler>(Scheme, null);
        services.AddAuthorization(o => o.AddPolicy(Policy, new AuthorizationPolicyBuilder(Scheme).RequireAuthenticatedUser().Build()));
        return services;
    }

    /// <summary>The session of a request the scheme authenticated, or null.</summary>
    public static StatusSession? SessionOf(HttpContext context) => context.Items[typeof(StatusSession)] as StatusSession;

    /// <summary>Sets a cookie the way every status page cookie is set.</summary>
    public static void SetCookie(HttpContext context, string name, string value, TimeSpan? maxAge) =>
        context.Response.Cookies.Append(name, value, new CookieOptions
        {
            HttpOnly = true,
            SameSite = SameSiteMode.Strict,
            Secure = context.Request.IsHttps,
            Path = "/",
            MaxAge = maxAge,
            IsEssential = true,
        });

    public static void DeleteCookie(HttpContext context, string name) =>
        context.Response.Cookies.Delete(name, new CookieOptions { HttpOnly = true, SameSite = SameSiteMode.Strict, Secure = context.Request.IsHttps, Path = "/" });
}

/// <summary>
/// Authenticates a status page request from its session cookie, giving the caller the scope of the token it signed in
/// with (as the bearer scheme does). Without a session, a page asks to sign in (303 to <c>/login</c>) and a form post is
/// refused (401); a scope too small gets a 403 page.
/// </summary>
internal sealed class StatusSessionHandler(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder, StatusSessions sessions)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        if (!Request.Cookies.TryGetValue(StatusPageAuthentication.CookieName, out var id) || string.IsNullOrEmpty(id))
        {
            return Task.FromResult(AuthenticateResult.NoResult());
        }

        if (sessions.Find(id) is not { } session)
        {
            return Task.FromResult(AuthenticateResult.Fail("the session has ended"));
        }

        Context.Items[typeof(StatusSession)] = session;
        var name = session.Scope == ApiScopes.Admin ? "api-token" : $"{session.Scope}-token";
        var principal = new ClaimsPrincipal(new ClaimsIdentity([new Claim(ClaimTypes.Name, name), new Claim(ClaimTypes.Role, session.Scope)], StatusPageAuthentication.Scheme));
        return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(principal, StatusPageAuthentication.Scheme)));
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        StatusPageResponses.Secure(Context);
        if (HttpMethods.IsGet(Request.Method) || HttpMethods.IsHead(Request.Method))
        {
            Response.StatusCode = StatusCodes.Status303SeeOther;
            Response.Headers.Location = "/login?return=" + Uri.EscapeDataString(Request.Path + Request.QueryString);
            return;
        }

        await StatusPageResponses.Message(Context, StatusCodes.Status401Unauthorized, "Sign in first", "This form needs a signed-in session: sign in again and retry.").ConfigureAwait(false);
    }

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties) =>
        StatusPageResponses.Message(Context, StatusCodes.Status403Forbidden, "Not allowed", ApiScopes.Describe(StatusPageAuthentication.SessionOf(Context)?.Scope));
}
