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
}
