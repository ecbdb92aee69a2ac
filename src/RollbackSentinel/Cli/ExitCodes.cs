namespace RollbackSentinel.Cli;

/// <summary>
/// Exit codes shared by every verb, so scripts and CI can tell "found problems" from "could not run" from "was
/// refused". Each verb's <c>--help</c> lists the ones it gives (<see cref="CliApp.ExitCodesOf"/>); docs/architecture.md too.
/// </summary>
public static class ExitCodes
{
    /// <summary>The verb ran (a backtest exits 0 whatever it found; <c>run</c> after a graceful stop).</summary>
    public const int Ok = 0;

    /// <summary>The rules have errors (<c>validate</c>, <c>backtest</c>, <c>plan</c>); <c>healthcheck</c>: unhealthy.</summary>
    public const int InvalidRules = 1;

    /// <summary>The command line or the settings are wrong: unknown verb or option, bad value, unreadable settings or token file.</summary>
    public const int Usage = 2;

    /// <summary>
    /// Something the verb needs could not be used: the metrics backend (unreachable, unauthorized, or it rejected a
    /// query), the target (<c>plan</c>), or, for the client verbs, the daemon (no answer, a timeout, a 5xx).
    /// </summary>
    public const int BackendFailure = 3;

    /// <summary>The client verbs: the daemon could not be reached or answered with a server error (same value as <see cref="BackendFailure"/>).</summary>
    public const int DaemonUnreachable = BackendFailure;

    /// <summary>The client verbs: the daemon refused the token (HTTP 401 or 403): none found, or the wrong one.</summary>
    public const int Unauthorized = 4;

    /// <summary>
    /// The client verbs: the daemon understood and refused the request (any other 4xx): no such incident or
    /// policy, an answer that came too late, a field past its limit. Nothing was changed.
    /// </summary>
    public const int Refused = 5;

    /// <summary>The exit codes of the client verbs, as <c>--help</c> lists them.</summary>
    internal static readonly IReadOnlyList<(int Code, string Meaning)> Client =
    [
        (Ok, "done"),
        (Usage, "bad command line, settings or token file"),
        (DaemonUnreachable, "the daemon could not be reached (or answered with a server error)"),
        (Unauthorized, "not authorized: the daemon refused the token (HTTP 401/403)"),
        (Refused, "the daemon refused the request (no such incident or policy, a late answer, a bad field): nothing changed"),
    ];

    /// <summary>Every exit code, as the root command's <c>--help</c> lists them.</summary>
    internal static readonly IReadOnlyList<(int Code, string Meaning)> All =
    [
        (Ok, "ran (a backtest whatever it found; run after a graceful stop)"),
        (InvalidRules, "the rules have errors (healthcheck: unhealthy)"),
        (Usage, "bad command line or settings"),
        (BackendFailure, "Prometheus, the target or the daemon could not be used or reached"),
        (Unauthorized, "not authorized by the daemon (HTTP 401/403)"),
        (Refused, "the daemon refused the request (other 4xx: no such incident, late answer, bad field)"),
    ];
}
