namespace RollbackSentinel.Backends.Http;

/// <summary>The extra headers a backend may be given (<c>X-Scope-OrgID</c>): what can be sent, and what must not be set this way.</summary>
public static class RequestHeaders
{
    /// <summary>Every problem with <paramref name="headers"/>, empty when all can be sent.</summary>
    public static IReadOnlyList<string> Problems(IReadOnlyDictionary<string, string> headers)
    {
        ArgumentNullException.ThrowIfNull(headers);
        var errors = new List<string>();
        foreach (var (name, value) in headers)
        {
            if (string.IsNullOrWhiteSpace(name) || name.Any(c => c <= ' ' || c >= 127 || "():,;\"/[]?={}\\".Contains(c, StringComparison.Ordinal)))
            {
                errors.Add($"Header name '{name}' is not a valid HTTP header name.");
            }
            else if (name.Equals("Authorization", StringComparison.OrdinalIgnoreCase) || name.Equals("Content-Type", StringComparison.OrdinalIgnoreCase)
                || name.Equals("Host", StringComparison.OrdinalIgnoreCase) || name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
            {
                errors.Add($"Header '{name}' cannot be set here; credentials go in the bearer token or username/password settings.");
            }
            else if (value is null || value.Any(c => c < ' ' || c >= 127))
            {
                errors.Add($"Header '{name}' has a value that cannot be sent (a line break, a control or non-ASCII character).");
            }
        }

        return errors;
    }
}
