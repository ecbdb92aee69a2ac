namespace RollbackSentinel.Actions.Kubectl;

/// <summary>How the kubectl adapter runs kubectl.</summary>
public sealed record KubectlOptions
{
    public static readonly KubectlOptions Default = new();

    /// <summary>The kubectl program: a name looked up on PATH, or a path.</summary>
    public string Path { get; init; } = "kubectl";

    /// <summary>How long one read or write command (get, undo, annotate, patch) may take.</summary>
    public TimeSpan CommandTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How long <c>kubectl rollout status</c> waits when the target sets no <c>timeout</c>.</summary>
    public TimeSpan DefaultRolloutTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// Attempts in all for a read (<c>kubectl get</c>) that failed or timed out (not on NotFound, Forbidden or
    /// Unauthorized); writes are never repeated blindly.
    /// </summary>
    public int ReadAttempts { get; init; } = 3;

    /// <summary>The wait before the first retry of a read; it doubles for each further one (zero in tests).</summary>
    public TimeSpan RetryBaseDelay { get; init; } = TimeSpan.FromSeconds(1);
}
