namespace RollbackSentinel.Cli.Tests;

// Tests that start daemons (as processes or in this process) and their servers mostly wait for them: a schedule to fire,
// Prometheus to scrape, a process to start. Within a collection they run one at a time; the collections run beside each
// other and beside the rest (xunit.runner.json allows four tests at once), so the waits overlap. Nothing is shared
// between them: each test takes its own temporary folder, its own ports (FreePort never hands one out twice), its own
// Prometheus, webhook receiver and store; the PostgreSQL ones their own database on their collection's server.

/// <summary>The HTTP API and the CLI's client verbs against a daemon started in this process.</summary>
[CollectionDefinition(Name)]
public sealed class ApiDaemonCollection
{
    public const string Name = "Daemon processes: API and client verbs";
}

/// <summary>Daemon processes on a live Prometheus that open, act on, confirm and record incidents.</summary>
[CollectionDefinition(Name)]
public sealed class IncidentDaemonCollection
{
    public const string Name = "Daemon processes: incidents";
}

/// <summary>Daemon processes starting, refusing to start, reading their settings, secrets and rules, reloading.</summary>
[CollectionDefinition(Name)]
public sealed class StartupDaemonCollection
{
    public const string Name = "Daemon processes: start-up, settings and reload";
}
