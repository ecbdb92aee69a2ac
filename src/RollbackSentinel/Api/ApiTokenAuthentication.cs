using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.Extensions.Options;

namespace RollbackSentinel.Api;

/// <summary>
/// The API's authentication: the bearer token (<see cref="ApiToken"/>) is an ASP.NET Core authentication scheme, and
/// authorization denies by default (a fallback policy requiring an authenticated caller), so every endpoint, every
/// spelling of its path and every path that matches none needs the token unless it is marked
/// <c>AllowAnonymous</c> (the probes, <c>/metrics</c>, and Slack's endpoints, which verify Slack's signature instead).
/// </summary>
internal static class ApiTokenAuthentication
{
    public const string Scheme = "SentinelBearer";

    public const string Realm = "Bearer realm=\"rollback-sentinel\"";

    /// <summary>The API's services: token authentication, deny-by-default authorization, and problem details for refused bodies.</summary>
    public static IServiceCollection AddSentinelApi(this IServiceCollection services)
    {
        services.AddRequestProblems();
        services.AddAuthentication(Scheme).AddScheme<AuthenticationSchemeOptions, ApiTokenAuthenticationHandler>(Scheme, null);
        services.AddAuthorization(o =>
        {
            o.FallbackPolicy = new AuthorizationPolicyBuilder(Scheme).RequireAuthenticatedUser().Build();

            // The scopes' names exist from the start so endpoints can be marked; what each token may do comes with the scoped tokens.
            foreach (var scope in new[] { ApiScopes.Read, ApiScopes.Deploy, ApiScopes.Admin })
            {
                o.AddPolicy(scope, new AuthorizationPolicyBuilder(Scheme).RequireAuthenticatedUser().Build());
            }
        });
        return services;
    }
}

/// <summary>Checks <c>Authorization: Bearer &lt;token&gt;</c>; answers a refusal with the API's 401 problem details.</summary>
internal sealed class ApiTokenAuthenticationHandler(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder, ApiToken token)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    private static readonly ClaimsPrincipal Caller = new(new ClaimsIdentity([new Claim(ClaimTypes.Name, "api-token")], ApiTokenAuthentication.Scheme));

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var presented = Presented(Request);
        if (presented is null)
        {
            return Task.FromResult(AuthenticateResult.NoResult());
        }

        return Task.FromResult(token.Matches(presented)
            ? AuthenticateResult.Success(new AuthenticationTicket(Caller, ApiTokenAuthentication.Scheme))
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

    protected override async Task HandleForbiddenAsync(AuthenticationProperties properties) =>
        await Results.Problem(title: "forbidden", detail: "the token may not do this", statusCode: StatusCodes.Status403Forbidden).ExecuteAsync(Context).ConfigureAwait(false);

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
