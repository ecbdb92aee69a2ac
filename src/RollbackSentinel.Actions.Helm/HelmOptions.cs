namespace RollbackSentinel.Actions.Helm;

/// <summary>How the Helm adapter runs <c>helm</c>.</summary>
public sealed record HelmOptions
{
    public static readonly HelmOptions Default = new();

    /// <summary>The helm program: a name looked up on PATH, or a full path.</summary>
    public string Path { get; init; } = "helm";

    /// <summary>
    /// How long one read (<c>helm history</c>, <c>helm get values</c>) may take; also the grace given to
    /// <c>helm rollback</c> beyond its own <c>--timeout</c> before it is stopped.
    /// </summary>
    public TimeSpan CommandTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>The <c>helm rollback --wait --timeout</c> used when the target sets no timeout.</summary>
    public TimeSpan DefaultWaitTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Attempts in all for a read, the first included. A rollback is never retried.</summary>
    public int ReadAttempts { get; init; } = 3;

    /// <summary>The wait before the first retry of a read; it doubles (with jitter) for each further one.</summary>
    public TimeSpan RetryBaseDelay { get; init; } = TimeSpan.FromSeconds(1);
}
