namespace RollbackSentinel.Rules;

/// <summary>
/// What the rules loader accepts, so that no file can exhaust the stack, the memory or the CPU of the daemon.
/// A policy needs far less of each; the limits are documented in docs/policy-format.md.
/// </summary>
public static class RuleLimits
{
    /// <summary>The largest rule file read, in bytes (1 MiB); a larger one is an error and is not read.</summary>
    public const long MaxFileBytes = 1024 * 1024;

    /// <summary>How deep mappings and lists may nest in a document (a policy needs about 8).</summary>
    public const int MaxDepth = 64;

    /// <summary>How many YAML documents (<c>---</c>) one file may hold.</summary>
    public const int MaxDocuments = 1000;

    /// <summary>How many aliases (<c>*name</c>) one file may use.</summary>
    public const int MaxAliases = 1000;

    /// <summary>How many nodes aliases may add to a file when each is expanded (the "billion laughs" guard).</summary>
    public const int MaxAliasExpansion = 10_000;

    /// <summary>How deep folders may nest under a rules folder.</summary>
    public const int MaxFolderDepth = 32;
}
