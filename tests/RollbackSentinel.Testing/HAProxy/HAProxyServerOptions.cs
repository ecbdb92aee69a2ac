namespace RollbackSentinel.Testing.HAProxy;

/// <summary>One server line of the fixture's backend: <c>server NAME ADDRESS weight WEIGHT</c>.</summary>
/// <param name="Name">The server name (letters, digits, <c>-_.:</c>), as the runtime API addresses it.</param>
/// <param name="Address">Where it forwards to, <c>host:port</c> (e.g. a <c>LoopbackHttpServer</c>'s authority).</param>
/// <param name="Weight">The initial weight, 0 to 256.</param>
public sealed record HAProxyBackendServer(string Name, string Address, int Weight = 1)
{
    /// <summary>Starts the server in maintenance (<c>disabled</c>).</summary>
    public bool Disabled { get; init; }

    /// <summary>A server at <paramref name="address"/>'s host and port (<c>http://127.0.0.1:41234/</c>).</summary>
    public static HAProxyBackendServer At(string name, Uri address, int weight = 1)
    {
        ArgumentNullException.ThrowIfNull(address);
        return new(name, $"{address.Host}:{address.Port}", weight);
    }
}

/// <summary>How <see cref="HAProxyServer"/> configures its HAProxy.</summary>
public sealed record HAProxyServerOptions
{
    public static readonly TimeSpan DefaultStartupTimeout = TimeSpan.FromSeconds(20);

    /// <summary>The backend name (what the runtime API commands address).</summary>
    public string Backend { get; init; } = "shop";

    /// <summary>The backend's <c>balance</c> algorithm. <c>roundrobin</c> accepts any weight at runtime; <c>source</c> or <c>uri</c> only 0%/100%.</summary>
    public string Balance { get; init; } = "roundrobin";

    /// <summary>The backend's servers, in order.</summary>
    public IReadOnlyList<HAProxyBackendServer> Servers { get; init; } = [];

    /// <summary>The HTTP frontend's loopback port; null picks a free one (and retries with another if it is taken).</summary>
    public int? FrontendPort { get; init; }

    /// <summary>Whether to open the admin <c>stats socket</c> on a unix socket (<c>mode 600 level admin</c>).</summary>
    public bool UnixSocket { get; init; } = true;

    /// <summary>The unix socket's path; null puts <c>admin.sock</c> in the fixture's temporary directory.</summary>
    public string? UnixSocketPath { get; init; }

    /// <summary>Whether to also open the admin <c>stats socket</c> on TCP (<c>ipv4@127.0.0.1:PORT level admin</c>).</summary>
    public bool TcpAdmin { get; init; }

    /// <summary>The TCP admin port; null picks a free one.</summary>
    public int? TcpAdminPort { get; init; }

    /// <summary>Adds <c>check inter 100ms fall 1 rise 1</c> to every server (health checks; down servers take no traffic).</summary>
    public bool HealthChecks { get; init; }

    /// <summary>Extra lines for the <c>global</c>, <c>defaults</c> or <c>backend</c> sections, pasted as given.</summary>
    public IReadOnlyList<string> ExtraGlobal { get; init; } = [];

    public IReadOnlyList<string> ExtraDefaults { get; init; } = [];

    public IReadOnlyList<string> ExtraBackend { get; init; } = [];

    /// <summary>The haproxy binary; null finds <c>haproxy</c> on PATH, then <c>/usr/sbin/haproxy</c>.</summary>
    public string? Executable { get; init; }

    /// <summary>How long to wait for the frontend and the admin socket after each start attempt.</summary>
    public TimeSpan StartupTimeout { get; init; } = DefaultStartupTimeout;
}
