namespace RollbackSentinel.Cli;

/// <summary>Exit codes shared by every verb, so scripts and CI can tell "found problems" from "could not run".</summary>
public static class ExitCodes
{
    /// <summary>The verb ran (a backtest exits 0 whatever it found).</summary>
    public const int Ok = 0;

    /// <summary>The rules have errors.</summary>
    public const int InvalidRules = 1;

    /// <summary>The command line is wrong: bad window, bad option value.</summary>
    public const int Usage = 2;

    /// <summary>The metrics backend could not be used: unreachable, unauthorized, or it rejected a query.</summary>
    public const int BackendFailure = 3;
}
