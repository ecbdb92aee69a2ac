using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.Extensions.Options;

namespace RollbackSentinel.Api;

/// <summary>
/// The API's authentication: the bearer tokens (<see cref="ApiToken"/>) are an ASP.NET Core authentication scheme, and
/// authorization denies by default (a fallback policy requiring an authenticated caller), so every endpoint, every
/// spelling of its path and every path that matches none needs a token unless it is marked
/// <c>AllowAnonymous</c> (the probes, <c>/metrics</c>, and Slack's endpoints, which verify Slack's signature instead).
/// What a token may do is its scope (<see cref="ApiScopes"/>), checked by the same policies: any token may GET, a deploy
/// token may also call endpoints marked <see cref="ApiScopes.Deploy"/>, anything else needs the admin token.
/// </summary>
internal static class ApiTokenAuthentication
{
    public const string Scheme = "SentinelBearer";

    public const string Realm = "Bearer realm=\"rollback-sentinel\"";

    /// <summary>The API's services: token authentication, deny-by-default scoped authorization, and problem details for refused bodies.</summary>
    public static IServiceCollection AddSentinelApi(this IServiceCollection services)
    {
        services.AddRequestProblems();
        services.AddAuthentication(Scheme).AddScheme<AuthenticationSchemeOptions, ApiTokenAuthenticationHandler>(Scheme, null);
        services.AddSingleton<IAuthorizationHandler, ApiScopeAuthorizationHandler>();
        services.AddAuthorization(o =>
        {
            // RequireAuthorization() (the /api/v1 group) and every endpoint that says nothing (unknown paths, 405s):
            // a token, and the scope the method needs.
            var byMethod = Scoped(null);
            o.DefaultPolicy = byMethod;
            o.FallbackPolicy = byMethod;
            foreach (var scope in new[] { ApiScopes.Read, ApiScopes.Deploy, ApiScopes.Admin })
            {
                o.AddPolicy(scope, Scoped(scope));
            }
        });
        return services;
    }

    private static AuthorizationPolicy Scoped(string? marked) =>
        new AuthorizationPolicyBuilder(Scheme).RequireAuthenticatedUser().AddRequirements(new ApiScopeRequirement(marked)).Build();
}

/// <summary>
/// Checks <c>Authorization: Bearer &lt;token&gt;</c> and gives the caller its token's scope as a role; answers a refusal
/// with the API's 401 problem details, and a token out of its scope with 403 problem details saying what it may do.
/// </summary>
internal sealed class ApiTokenAuthenticationHandler(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder, ApiToken token)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    private static readonly Dictionary<string, ClaimsPrincipal> Callers = new[] { ApiScopes.Admin, ApiScopes.Deploy, ApiScopes.Read }.ToDictionary(
        scope => scope,
        scope => new ClaimsPrincipal(new ClaimsIdentity(
            [new Claim(ClaimTypes.Name, scope == ApiScopes.Admin ? "api-token" : $"{scope}-token"), new Claim(ClaimTypes.Role, scope)],
            ApiTokenAuthentication.Scheme)),
        StringComparer.Ordinal);

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var presented = Presented(Request);
        if (presented is null)
        {
            return Task.FromResult(AuthenticateResult.NoResult());
        }

        return Task.FromResult(token.ScopeOf(presented) is { } scope
            ? AuthenticateResult.Success(new AuthenticationTicket(Callers[scope], ApiTokenAuthentication.Scheme))
            : AuthenticateResult.Fail("the bearer token is not valid"));
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        Response.Headers.WWWAuthenticate = ApiTokenAuthentication.Realm;
        await Results.Problem(
            title: "unauthorized",
            detail: Presented(Request) is null ? "send 'Authorization: Bearer <token>' (see http:apiTokenFile)" : "the bearer token is not valid",
            statusCode: StatusCodes.Status401Unauthorized).ExecuteAsync(Context).ConfigureAwait(false);
    }

    protected override async Task HandleForbiddenAsync(AuthenticationProperties properties)
    {
        var scope = token.ScopeOf(Presented(Request));
        await Results.Problem(
            title: "forbidden",
            detail: ApiScopes.Describe(scope),
            statusCode: StatusCodes.Status403Forbidden,
            extensions: new Dictionary<string, object?> { ["scope"] = scope }).ExecuteAsync(Context).ConfigureAwait(false);
    }

    /// <summary>The token after <c>Bearer </c>, or null when none (or only whitespace) was sent.</summary>
    private static string? Presented(HttpRequest request)
    {
        var header = request.Headers.Authorization.ToString();
        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        var value = header["Bearer ".Length..].Trim();
        return string.IsNullOrWhiteSpace(value) ? null : value;
    }
}
