using System.Security.Claims;
using Microsoft.AspNetCore.Authorization;

namespace RollbackSentinel.Api;

/// <summary>
/// What a bearer token may do, as authorization policy names. Three tokens, three scopes:
/// <list type="bullet">
/// <item><see cref="Read"/> (<c>http.readTokenFile</c>): GET only.</item>
/// <item><see cref="Deploy"/> (<c>http.deployTokenFile</c>): GET, plus the endpoints a pipeline calls (recording a
/// change, asking a gate); never approve, deny, snooze, ack or rollback.</item>
/// <item><see cref="Admin"/> (<c>http.apiTokenFile</c>/<c>http.apiToken</c>): everything.</item>
/// </list>
/// How to apply: every endpoint of the <c>/api/v1</c> group already needs a token, any token may GET, and any other
/// method needs the admin token. Mark an endpoint a deploy token may call with
/// <c>.RequireAuthorization(ApiScopes.Deploy)</c> (e.g. <c>POST /api/v1/changes</c>, <c>GET|POST /api/v1/gates/{policy}</c>);
/// a GET stays readable by every token even when marked. <see cref="Admin"/> marks an endpoint that only the admin
/// token may call even with GET. Nothing needs <see cref="Read"/> explicitly: it is what an unmarked GET requires.
/// </summary>
internal static class ApiScopes
{
    /// <summary>Any token: GET (and HEAD) only.</summary>
    public const string Read = "read";

    /// <summary>The deploy token or the admin token: what a pipeline needs (record a change, ask a gate).</summary>
    public const string Deploy = "deploy";

    /// <summary>Only the admin token.</summary>
    public const string Admin = "admin";

    /// <summary>The caller's scope (its role claim, set by <see cref="ApiTokenAuthenticationHandler"/>), or null when not authenticated.</summary>
    public static string? Of(ClaimsPrincipal user)
    {
        ArgumentNullException.ThrowIfNull(user);
        return user.Identity?.IsAuthenticated == true ? user.FindFirst(ClaimTypes.Role)?.Value : null;
    }

    /// <summary>The scope <paramref name="endpoint"/> is marked with (<c>RequireAuthorization(ApiScopes.X)</c>), the strictest if several; null when unmarked.</summary>
    public static string? MarkOf(Endpoint? endpoint) =>
        endpoint?.Metadata.GetOrderedMetadata<IAuthorizeData>().Select(a => a.Policy).Where(p => p is Read or Deploy or Admin).MaxBy(Rank);

    /// <summary>
    /// The scope a request needs: a GET or HEAD needs <see cref="Read"/> (unless marked <see cref="Admin"/>); any other
    /// method needs <see cref="Deploy"/> on an endpoint marked so, and <see cref="Admin"/> everywhere else.
    /// </summary>
    public static string Needed(string method, string? marked) =>
        marked == Admin ? Admin
        : HttpMethods.IsGet(method) || HttpMethods.IsHead(method) ? Read
        : marked == Deploy ? Deploy
        : Admin;

    /// <summary>Whether a token of scope <paramref name="scope"/> may do what needs <paramref name="needed"/>.</summary>
    public static bool Allows(string scope, string needed) => Rank(scope) >= Rank(needed);

    /// <summary>What a token of <paramref name="scope"/> may do, for a refusal (403) to say.</summary>
    public static string Describe(string? scope) => scope switch
    {
        Read => "this is the read token (http.readTokenFile): it may only read (GET); recording changes and POSTing to a gate need the deploy token, anything else the admin token",
        Deploy => "this is the deploy token (http.deployTokenFile): it may read (GET), record changes (POST /api/v1/changes) and ask gates (/api/v1/gates/{policy}); approve, deny, snooze, ack and rollback need the admin token",
        _ => "the token may not do this",
    };

    private static int Rank(string? scope) => scope switch
    {
        Read => 1,
        Deploy => 2,
        Admin => 3,
        _ => 0,
    };
}

/// <summary>A token scope check (<see cref="ApiScopes"/>): <paramref name="Marked"/> is the policy's scope, null for the API's default policy.</summary>
internal sealed record ApiScopeRequirement(string? Marked) : IAuthorizationRequirement;

/// <summary>
/// Decides <see cref="ApiScopeRequirement"/> from the caller's scope, the request's method and the endpoint's mark.
/// The default policy (null mark) defers to an endpoint's own mark: marking an endpoint <see cref="ApiScopes.Deploy"/>
/// must widen who may call it, while policies can only add requirements.
/// </summary>
internal sealed class ApiScopeAuthorizationHandler : AuthorizationHandler<ApiScopeRequirement>
{
    protected override Task HandleRequirementAsync(AuthorizationHandlerContext context, ApiScopeRequirement requirement)
    {
        if (ApiScopes.Of(context.User) is not { } scope)
        {
            return Task.CompletedTask;
        }

        var http = context.Resource as HttpContext;
        var marked = requirement.Marked ?? ApiScopes.MarkOf(http?.GetEndpoint());

        // Without the request (never, under the authorization middleware) nothing is known: only admin passes.
        var needed = ApiScopes.Needed(http?.Request.Method ?? HttpMethods.Post, marked);
        if (ApiScopes.Allows(scope, needed))
        {
            context.Succeed(requirement);
        }
        else
        {
            context.Fail(new AuthorizationFailureReason(this, ApiScopes.Describe(scope)));
        }

        return Task.CompletedTask;
    }
}
