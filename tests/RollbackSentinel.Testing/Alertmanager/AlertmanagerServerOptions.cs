namespace RollbackSentinel.Testing.Alertmanager;

/// <summary>How <see cref="AlertmanagerServer"/> sets up its Alertmanager.</summary>
public sealed record AlertmanagerServerOptions
{
    public static readonly TimeSpan DefaultStartupTimeout = TimeSpan.FromSeconds(30);

    /// <summary>The alertmanager binary; null to look for <c>prometheus-alertmanager</c> (Debian) or <c>alertmanager</c> on PATH.</summary>
    public string? Executable { get; init; }

    /// <summary>The route's group_wait: how long a new group waits before its first notification (to the null receiver).</summary>
    public TimeSpan GroupWait { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>global.resolve_timeout: when an alert posted without endsAt is taken as resolved.</summary>
    public TimeSpan ResolveTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Extra command-line flags, e.g. <c>--log.level=debug</c>.</summary>
    public IReadOnlyList<string> ExtraArguments { get; init; } = [];

    /// <summary>How long to wait for <c>/-/ready</c> after each start attempt.</summary>
    public TimeSpan StartupTimeout { get; init; } = DefaultStartupTimeout;
}
