namespace RollbackSentinel.Testing.InfluxDb;

/// <summary>How an <see cref="InfluxDbServer"/> starts.</summary>
public sealed record InfluxDbServerOptions
{
    /// <summary>
    /// Turns on <c>[http] auth-enabled</c> and creates an admin user (<see cref="AdminUsername"/>, <see cref="AdminPassword"/>)
    /// right after start, which InfluxDB allows without credentials while it has no user. The server's own calls use them.
    /// </summary>
    public bool AuthEnabled { get; init; }

    public string AdminUsername { get; init; } = "admin";

    public string AdminPassword { get; init; } = "fixture-admin-password";

    /// <summary>Bound on one start attempt (influxd opens its stores and listens within a second here).</summary>
    public TimeSpan StartupTimeout { get; init; } = TimeSpan.FromSeconds(30);
}
