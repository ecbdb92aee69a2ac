namespace RollbackSentinel.Core.Secrets;

/// <summary>
/// Reads a secret file a policy names (a webhook's <c>secretFile</c>, a PagerDuty routing key file) only if the
/// operator's settings allow it, and registers what it read in <see cref="SecretRegistry.Shared"/>.
/// </summary>
public interface ISecretFileReader
{
    /// <summary>The file's text, trimmed.</summary>
    /// <exception cref="SecretFileRefusedException">The file is not one a policy may name.</exception>
    /// <exception cref="IOException">It cannot be read.</exception>
    Task<string> ReadAsync(string path, CancellationToken cancellationToken);
}

/// <summary>A policy named a file it may not read (outside the allowed directories, or the daemon's own credentials).</summary>
public sealed class SecretFileRefusedException : UnauthorizedAccessException
{
    public SecretFileRefusedException()
    {
    }

    public SecretFileRefusedException(string message)
        : base(message)
    {
    }

    public SecretFileRefusedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
