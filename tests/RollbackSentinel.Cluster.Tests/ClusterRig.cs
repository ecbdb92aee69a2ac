using System.Globalization;
using Npgsql;
using RollbackSentinel.Cli.Tests.Daemon;
using RollbackSentinel.Testing.Postgres;
using RollbackSentinel.Testing.Prometheus;
using RollbackSentinel.Testing.Slack;

namespace RollbackSentinel.Cluster.Tests;

/// <summary>
/// Three sentinels as processes on one real PostgreSQL, reading one real Prometheus that scrapes a
/// <see cref="ProbeExporter"/> every second, rolling back through one <see cref="WebhookReceiver"/> and paging one
/// <see cref="SlackApiEmulator"/>. Every node has a copy of the same rules: <see cref="PolicyCount"/> policies
/// <c>guard-00</c>... at <see cref="Interval"/>, each breaching when its probe is above 0.5 for 4 s. Disposing stops
/// every process (daemons, Prometheus, PostgreSQL) and deletes every folder, whatever state the test left them in.
/// </summary>
internal sealed class ClusterRig : IAsyncDisposable
{
    public const int PolicyCount = 60;
    public const string Channel = "C0DEPLOYS";

    /// <summary>Each policy's schedule interval.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(5);

    /// <summary><c>cluster.checkinInterval</c> of every node: short, so failover is quick.</summary>
    public static readonly TimeSpan CheckinInterval = TimeSpan.FromSeconds(2);

    /// <summary>The documented failover bound: 3 x cluster.checkinInterval, plus up to one policy interval until its next slot.</summary>
    public static readonly TimeSpan FailoverBound = (3 * CheckinInterval) + Interval;

    /// <summary>Waits on conditions that need seconds; far above what they need, never a timing assertion.</summary>
    public static readonly TimeSpan Generous = TimeSpan.FromSeconds(90);

    private readonly List<IAsyncDisposable> _owned = [];
    private string? _secrets;

    private ClusterRig()
    {
    }

    public static IReadOnlyList<string> Policies { get; } = [.. Enumerable.Range(0, PolicyCount).Select(i => $"guard-{i:00}")];

    public PostgresServer Postgres { get; private set; } = null!;

    /// <summary>The database every node shares (pooled, as a deployment would connect).</summary>
    public string ConnectionString { get; private set; } = null!;

    public ProbeExporter Probes { get; private set; } = null!;

    public PrometheusServer Prometheus { get; private set; } = null!;

    public WebhookReceiver Webhook { get; private set; } = null!;

    public SlackApiEmulator Slack { get; private set; } = null!;

    public IReadOnlyList<ClusterNode> Nodes { get; private set; } = [];

    /// <summary>Starts everything and the three nodes (together: they race for the migrations), ready.</summary>
    /// <param name="slowPrometheusFor">The node (0..2) that reads Prometheus through a <see cref="SlowProxy"/>, or null for none.</param>
    public static async Task<ClusterRig> StartAsync(int? slowPrometheusFor = null)
    {
        var rig = new ClusterRig();
        try
        {
            await rig.StartCoreAsync(slowPrometheusFor);
            return rig;
        }
        catch
        {
            await rig.DisposeAsync();
            throw;
        }
    }

    /// <summary>Makes <paramref name="policy"/> breach (its probe goes to 1) or pass again (0).</summary>
    public void Breach(string policy, bool breaching = true) => Probes.Set(policy, breaching ? 1 : 0);

    /// <summary>The nodes still running (not killed).</summary>
    public IEnumerable<ClusterNode> Running => Nodes.Where(n => n.IsRunning);

    /// <summary>Every node's log, for a failure message.</summary>
    public string Logs() => string.Join(Environment.NewLine, Nodes.Select(n => $"===== node {n.Id}{Environment.NewLine}{Tail(n.Log, 12_000)}"));

    /// <summary>The chat.postMessage calls that posted a message about <paramref name="policy"/>.</summary>
    public IReadOnlyList<SlackCall> SlackPosts(string policy) =>
        [.. Slack.Calls.Where(c => c.Method == "chat.postMessage" && c.Body.Contains(policy, StringComparison.Ordinal))];

    /// <summary>Whether the shared store holds what <paramref name="channel"/> was told of incident <paramref name="incident"/> (a Slack message's reference).</summary>
    public async Task<bool> NotificationRecordedAsync(long incident, string channel)
    {
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT count(*) FROM notifications WHERE incident_id = $1 AND channel = $2", connection);
        command.Parameters.AddWithValue(incident);
        command.Parameters.AddWithValue(channel);
        return (long)(await command.ExecuteScalarAsync())! > 0;
    }

    /// <summary>The earliest evaluation of each policy the shared store recorded after <paramref name="since"/> (evaluation time).</summary>
    public async Task<IReadOnlyDictionary<string, DateTimeOffset>> FirstEvaluationsAfterAsync(DateTimeOffset since)
    {
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT policy, min(at) FROM evaluations WHERE at > $1 GROUP BY policy", connection);
        command.Parameters.AddWithValue(since.UtcDateTime);
        await using var reader = await command.ExecuteReaderAsync();
        var first = new Dictionary<string, DateTimeOffset>(StringComparer.Ordinal);
        while (await reader.ReadAsync())
        {
            first[reader.GetString(0)] = new DateTimeOffset(reader.GetDateTime(1).ToUniversalTime(), TimeSpan.Zero);
        }

        return first;
    }

    public async ValueTask DisposeAsync()
    {
        // Each in turn, each whatever the others did: a failure to stop one must not leave another running.
        var errors = new List<Exception>();
        foreach (var node in Nodes)
        {
            await Try(node.DisposeAsync);
        }

        for (var i = _owned.Count - 1; i >= 0; i--)
        {
            await Try(_owned[i].DisposeAsync);
        }

        if (_secrets is not null)
        {
            await Try(() =>
            {
                Directory.Delete(_secrets, recursive: true);
                return ValueTask.CompletedTask;
            });
        }

        if (errors.Count > 0)
        {
            throw new AggregateException("stopping the cluster rig failed", errors);
        }

        async Task Try(Func<ValueTask> dispose)
        {
            try
            {
                await dispose();
            }
            catch (Exception e)
            {
                errors.Add(e);
            }
        }
    }

    private async Task StartCoreAsync(int? slowPrometheusFor)
    {
        using (var budget = new CancellationTokenSource(TimeSpan.FromSeconds(90)))
        {
            Postgres = Own(await PostgresServer.StartAsync(budget.Token));
            // Each node opens two pools (the store's and Quartz's), each up to Npgsql's default of 100 connections, and
            // PostgreSQL allows 100 clients by default: three nodes under load ran it out ("53300: sorry, too many clients
            // already"). Operators size the pools to the server; so does this cluster: 3 x 2 x 15 fits.
            ConnectionString = new NpgsqlConnectionStringBuilder(await Postgres.CreateDatabaseAsync(budget.Token)) { Pooling = true, MaxPoolSize = 15 }.ConnectionString;
        }

        Probes = Own(new ProbeExporter(Policies));
        Webhook = Own(new WebhookReceiver());
        Slack = Own(SlackApiEmulator.Start());
        Prometheus = Own(await PrometheusServer.StartAsync(
            new PrometheusServerOptions
            {
                ScrapeConfigsYaml = $"- job_name: probes\n  scrape_interval: 1s\n  static_configs: [{{targets: ['{Probes.Address}']}}]",
            },
            CancellationToken.None));

        _secrets = Directory.CreateTempSubdirectory("sentinel-cluster-secrets-").FullName;
        var token = Path.Combine(_secrets, "slack-token");
        var signing = Path.Combine(_secrets, "slack-secret");
        await File.WriteAllTextAsync(token, Slack.Token);
        await File.WriteAllTextAsync(signing, "8f742231b10e8888abcd99yyyzzz85a5");

        var settings = $"""
            cluster:
              checkinInterval: {(int)CheckinInterval.TotalSeconds}s
            notifications:
              externalUrl: https://sentinel.example.com
              slack:
                apiUrl: {Slack.ApiBaseUrl}
                botTokenFile: {token}
                signingSecretFile: {signing}
                channel: {Channel}
            """;
        var nodes = new List<ClusterNode>();
        string[] ids = ["sentinel-a", "sentinel-b", "sentinel-c"];
        for (var i = 0; i < ids.Length; i++)
        {
            var prometheus = i == slowPrometheusFor ? Own(new SlowProxy(Prometheus.BaseAddress, TimeSpan.FromSeconds(1.5))).BaseAddress : Prometheus.BaseAddress;
            var node = new ClusterNode(ids[i], new SentinelWorkspace(prometheus, settings), ConnectionString);
            nodes.Add(node);
            foreach (var policy in Policies)
            {
                node.Workspace.WriteRule($"{policy}.yaml", PolicyYaml(policy));
            }
        }

        Nodes = nodes;
        await Task.WhenAll(Nodes.Select(n => n.StartAsync()));
    }

    private string PolicyYaml(string policy) => $$"""
        apiVersion: rollback-sentinel/v1
        kind: RollbackPolicy
        metadata:
          name: {{policy}}
        spec:
          target:
            webhook:
              url: {{Webhook.UrlFor(policy)}}
              timeout: 5m
          schedule:
            interval: {{(int)Interval.TotalSeconds}}s
          cooldown: 1h
          watch: {outside: rollback}
          triggers:
            - name: probe
              threshold:
                query: max(cluster_probe{policy="{{policy}}"})
                op: ">"
                value: 0.5
              for: 4s
              action: rollback
        """;

    private T Own<T>(T disposable)
        where T : IAsyncDisposable
    {
        _owned.Add(disposable);
        return disposable;
    }

    private static string Tail(string text, int chars) => text.Length <= chars ? text : "..." + text[^chars..];

    public static string Seconds(TimeSpan t) => t.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture) + " s";
}
