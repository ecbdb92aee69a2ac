using System.ComponentModel.DataAnnotations;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Prometheus;
using RollbackSentinel.Rules;
using RollbackSentinel.Storage.Postgres;

namespace RollbackSentinel.Hosting;

/// <summary>
/// The daemon's settings, from <c>--config sentinel.yaml</c>, then environment variables <c>SENTINEL__*</c>.
/// With nothing set it runs with <c>./rules</c>, Prometheus on <c>http://127.0.0.1:9090</c> and SQLite in <c>./data/</c>.
/// Durations are written as in policies (<c>10s</c>, <c>7d</c>).
/// </summary>
public sealed partial class SentinelOptions
{
    public string Rules { get; set; } = "rules";

    public PrometheusSettings Prometheus { get; set; } = new();

    public StorageSettings Storage { get; set; } = new();

    public HttpSettings Http { get; set; } = new();

    public AdapterSettings Adapters { get; set; } = new();

    public NotificationSettings Notifications { get; set; } = new();

    public SecretsSettings Secrets { get; set; } = new();

    /// <summary>This sentinel among others sharing a store.</summary>
    public NodeSettings Node { get; set; } = new();

    /// <summary><c>cluster</c>: how sentinels sharing a PostgreSQL store split the schedules (docs/ha.md). Unused with SQLite.</summary>
    public ClusterSettings Cluster { get; set; } = new();

    /// <summary>How often the rules folder is rescanned, on top of file events (symlink swaps raise none).</summary>
    public string RescanInterval { get; set; } = "10s";

    /// <summary>How long in-flight evaluations get to finish on SIGTERM.</summary>
    public string ShutdownTimeout { get; set; } = "20s";

    /// <summary>An evaluation may take at most this share of its policy's interval before it is cancelled.</summary>
    public double EvaluationTimeoutShare { get; set; } = 0.8;

    public sealed class PrometheusSettings
    {
        public string Url { get; set; } = "http://127.0.0.1:9090";

        public string? BearerTokenFile { get; set; }

        public string? Username { get; set; }

        public string? PasswordFile { get; set; }

        public string Timeout { get; set; } = "10s";

        /// <summary>Extra request headers, e.g. <c>X-Scope-OrgID</c> for a multi-tenant Mimir or Cortex (docs/backends.md).</summary>
        public Dictionary<string, string> Headers { get; set; } = new(StringComparer.OrdinalIgnoreCase);

        /// <summary>Caps on every query's answer (sentinel.example.yaml, docs/architecture.md): past one, the query is an error verdict.</summary>
        public PrometheusLimitSettings Limits { get; set; } = new();
    }

    /// <summary><c>prometheus.limits</c>: how much one answer may hold.</summary>
    public sealed class PrometheusLimitSettings
    {
        /// <summary>Bytes read of one response, counted while reading (64 MiB).</summary>
        [Range(1, PrometheusOptions.MaxMaxResponseBytes)]
        public long MaxResponseBytes { get; set; } = PrometheusOptions.DefaultMaxResponseBytes;

        /// <summary>Series in one result (10,000).</summary>
        [Range(1, int.MaxValue)]
        public int MaxSeries { get; set; } = PrometheusOptions.DefaultMaxSeries;

        /// <summary>Characters of one label name or value (1,024).</summary>
        [Range(1, int.MaxValue)]
        public int MaxLabelLength { get; set; } = PrometheusOptions.DefaultMaxLabelLength;
    }

    public sealed class StorageSettings
    {
        public string Path { get; set; } = "data/sentinel.db";

        /// <summary>How long evaluation history is kept; incidents are kept.</summary>
        public string Retention { get; set; } = "7d";

        /// <summary>
        /// <c>storage.postgres</c>: set a connection string (or a file holding one) to share one PostgreSQL database among
        /// several sentinels (a cluster, docs/ha.md) instead of the embedded SQLite file at <see cref="Path"/>.
        /// </summary>
        public PostgresSettings Postgres { get; set; } = new();

        /// <summary>True when a PostgreSQL connection string (or its file) is set: the store is PostgreSQL and the schedules are clustered.</summary>
        public bool UsesPostgres => !string.IsNullOrWhiteSpace(Postgres.ConnectionString) || Postgres.ConnectionStringFile is not null;
    }

    /// <summary><c>storage.postgres</c>. The password is never logged, shown in an error or exported as a metric.</summary>
    public sealed class PostgresSettings
    {
        /// <summary>
        /// An Npgsql connection string (<c>Host=db;Database=sentinel;Username=sentinel;Password=...</c>); also
        /// <c>SENTINEL__STORAGE__POSTGRES__CONNECTIONSTRING</c>. Prefer <see cref="ConnectionStringFile"/> for one holding a password.
        /// </summary>
        public string? ConnectionString { get; set; }

        /// <summary>A file holding the connection string (a mounted Secret); trailing whitespace is ignored. Not with <see cref="ConnectionString"/>.</summary>
        public string? ConnectionStringFile { get; set; }
    }

    /// <summary><c>cluster</c>: Quartz's clustered job store on the PostgreSQL store.</summary>
    public sealed class ClusterSettings
    {
        /// <summary>
        /// How often each node checks in with the cluster (Quartz's <c>clusterCheckinInterval</c>, and this sentinel's row in
        /// <c>/api/v1/cluster</c>). A node silent for longer than this plus the same again (the misfire threshold) is taken
        /// for dead and its policies move to the others: failover within three intervals, 15 s by default (docs/ha.md).
        /// </summary>
        public string CheckinInterval { get; set; } = "5s";
    }

    /// <summary>Where incidents are announced and answered: each channel is on when its settings are given.</summary>
    public sealed class NotificationSettings
    {
        /// <summary>The daemon's address as people reach it (for links in messages), e.g. https://sentinel.example.com.</summary>
        public string? ExternalUrl { get; set; }

        public SlackSettings Slack { get; set; } = new();

        public PagerDutySettings PagerDuty { get; set; } = new();

        public AlertmanagerSettings Alertmanager { get; set; } = new();
    }

    /// <summary>Slack: on when a bot token file and a default channel are set.</summary>
    public sealed class SlackSettings
    {
        public string ApiUrl { get; set; } = "https://slack.com/api/";

        /// <summary>A file holding the bot token (xoxb-...), with chat:write and usergroups:read.</summary>
        public string? BotTokenFile { get; set; }

        /// <summary>A file holding the app's signing secret: interactions and slash commands are verified with it.</summary>
        public string? SigningSecretFile { get; set; }

        /// <summary>The channel id (C...) incidents go to unless a policy names its own.</summary>
        public string? Channel { get; set; }

        public bool Enabled => BotTokenFile is not null && Channel is not null;
    }

    /// <summary>PagerDuty Events API v2: on when a routing key file is set.</summary>
    public sealed class PagerDutySettings
    {
        public string EventsUrl { get; set; } = "https://events.pagerduty.com/v2/enqueue";

        public string? RoutingKeyFile { get; set; }

        public bool Enabled => RoutingKeyFile is not null;
    }

    /// <summary>Prometheus Alertmanager: on when its URL is set.</summary>
    public sealed class AlertmanagerSettings
    {
        public string? Url { get; set; }

        public bool Enabled => Url is not null;
    }

    /// <summary>Secret files named by rules (a PagerDuty routing key file, a webhook's secretFile, a kubeconfig).</summary>
    public sealed class SecretsSettings
    {
        /// <summary>
        /// The directories rules may name secret files in (their real paths, symlinks resolved); unset or empty means
        /// only <see cref="SecretFileAccess.DefaultDirectory"/>. The API token and the store are never allowed.
        /// </summary>
        public List<string>? AllowedDirectories { get; set; }

        /// <summary>What applies: the configured directories, or the default one.</summary>
        public IReadOnlyList<string> EffectiveAllowedDirectories =>
            AllowedDirectories is { Count: > 0 } dirs ? dirs : [SecretFileAccess.DefaultDirectory];
    }

    /// <summary><c>node</c>: who this sentinel is, for the leases it takes in the store.</summary>
    public sealed class NodeSettings
    {
        /// <summary>The longest instance id: it is stored with every lease.</summary>
        public const int MaxIdLength = 128;

        /// <summary>
        /// This sentinel's instance id (<c>SENTINEL__NODE__ID</c>): the actions it starts and the notifications it
        /// sends are leased to it, so after a restart it takes back its own and leaves another's alone until their
        /// lease ends. Unique among sentinels sharing a store, stable across restarts; default the host name (a
        /// pod's name in Kubernetes). With SQLite (one daemon per store, its lock file) a restart under a new name
        /// still interrupts every action the old process left started and releases its notification claims.
        /// </summary>
        public string Id { get; set; } = DefaultId();

        /// <summary>The host name, or the machine name when the host name cannot be read.</summary>
        public static string DefaultId()
        {
            try
            {
                return System.Net.Dns.GetHostName() is { Length: > 0 } host ? host : Environment.MachineName;
            }
            catch (System.Net.Sockets.SocketException)
            {
                return Environment.MachineName;
            }
        }

        /// <summary>Why <paramref name="id"/> cannot be an instance id, or null.</summary>
        public static string? Problem(string? id) =>
            string.IsNullOrWhiteSpace(id) ? "must not be empty: it names this sentinel among those sharing a store (default: the host name)"
            : id.Length > MaxIdLength ? $"must be at most {MaxIdLength} characters (it has {id.Length})"
            : id.Any(char.IsControl) ? "must not contain control characters (a line break, a tab)"
            : null;
    }

    /// <summary>Where the adapters find their programs, and their default waits.</summary>
    public sealed class AdapterSettings
    {
        /// <summary>The kubectl binary (a name looked up on PATH, or a path).</summary>
        public string Kubectl { get; set; } = "kubectl";

        /// <summary>The helm binary (a name looked up on PATH, or a path).</summary>
        public string Helm { get; set; } = "helm";

        /// <summary>How long a read (get, history) may take; the rollback's own wait is the target's timeout.</summary>
        public string CommandTimeout { get; set; } = "30s";
    }

    public sealed class HttpSettings
    {
        public string Listen { get; set; } = "http://127.0.0.1:8080";

        /// <summary>A file holding the API's admin token (preferred: never in the config file itself). It may do everything.</summary>
        public string? ApiTokenFile { get; set; }

        public string? ApiToken { get; set; }

        /// <summary>A file holding a token that may only read (GET): dashboards, on-call tools. Optional.</summary>
        public string? ReadTokenFile { get; set; }

        /// <summary>
        /// A file holding a pipeline's token: it may read, record changes and ask gates, never approve, deny, snooze,
        /// ack or roll back. Optional.
        /// </summary>
        public string? DeployTokenFile { get; set; }
    }

    public TimeSpan RescanIntervalValue => PromDuration.Parse(RescanInterval);

    public TimeSpan ShutdownTimeoutValue => PromDuration.Parse(ShutdownTimeout);

    public TimeSpan RetentionValue => PromDuration.Parse(Storage.Retention);

    public TimeSpan CommandTimeoutValue => PromDuration.Parse(Adapters.CommandTimeout);

    public TimeSpan CheckinIntervalValue => PromDuration.Parse(Cluster.CheckinInterval);

    /// <summary>Every problem with the settings, so a bad config fails at start with all of them listed.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        void Duration(string name, string value)
        {
            if (!PromDuration.TryParse(value, out var d, out var why))
            {
                errors.Add($"{name}: {why}");
            }
            else if (d <= TimeSpan.Zero)
            {
                errors.Add($"{name}: must be positive");
            }
        }

        Duration("rescanInterval", RescanInterval);
        Duration("shutdownTimeout", ShutdownTimeout);
        Duration("storage:retention", Storage.Retention);
        Duration("prometheus:timeout", Prometheus.Timeout);
        Duration("adapters:commandTimeout", Adapters.CommandTimeout);
        Duration("cluster:checkinInterval", Cluster.CheckinInterval);
        CheckPostgres(errors);
        ValidateBackends(errors);
        if (HttpUrl("prometheus:url", Prometheus.Url, errors) is { UserInfo.Length: > 0 })
        {
            // It would end up in logs; credentials go in username/passwordFile or bearerTokenFile.
            errors.Add("prometheus:url: must not contain credentials; use prometheus:username with passwordFile, or bearerTokenFile");
        }

        if (!Directory.Exists(Rules) && !File.Exists(Rules))
        {
            // Nothing to guard: a daemon that started anyway would look healthy while deciding nothing.
            errors.Add($"rules: {Path.GetFullPath(Rules)} does not exist; mount your policies there, or point rules (--rules, SENTINEL__RULES) at their folder");
        }

        // Each token is read as the daemon reads it; a missing file is reported with the other files below.
        var admin = CheckToken(Http.ApiTokenFile is null ? "http:apiToken" : "http:apiTokenFile", Http.ApiTokenFile, ResolveApiToken, errors);
        var deploy = CheckToken("http:deployTokenFile", Http.DeployTokenFile, ResolveDeployToken, errors);
        var read = CheckToken("http:readTokenFile", Http.ReadTokenFile, ResolveReadToken, errors);
        (string Key, string? Token)[] scoped = [(Http.ApiTokenFile is null ? "http:apiToken" : "http:apiTokenFile", admin), ("http:deployTokenFile", deploy), ("http:readTokenFile", read)];
        for (var i = 0; i < scoped.Length; i++)
        {
            for (var j = i + 1; j < scoped.Length; j++)
            {
                // A token has one scope: the same one in two would make the narrower scope meaningless.
                if (scoped[i].Token is { } a && scoped[j].Token is { } b && string.Equals(a, b, StringComparison.Ordinal))
                {
                    errors.Add($"{scoped[j].Key}: holds the same token as {scoped[i].Key}; each scope needs a token of its own");
                }
            }
        }

        if (!Uri.TryCreate(Http.Listen, UriKind.Absolute, out var listen) || (listen.Scheme != "http" && listen.Scheme != "https"))
        {
            errors.Add($"http:listen: '{Http.Listen}' is not an http:// address such as http://0.0.0.0:8080");
        }

        if (EvaluationTimeoutShare is <= 0 or > 1)
        {
            errors.Add("evaluationTimeoutShare: must be in (0, 1]");
        }

        if (NodeSettings.Problem(Node.Id) is { } node)
        {
            errors.Add($"node:id: {node}");
        }

        if (Notifications.Slack.BotTokenFile is not null && Notifications.Slack.Channel is null)
        {
            errors.Add("notifications:slack:channel: set the default channel id (C...) for incidents");
        }

        foreach (var (name, url) in new[] { ("notifications:slack:apiUrl", (string?)Notifications.Slack.ApiUrl), ("notifications:pagerDuty:eventsUrl", Notifications.PagerDuty.EventsUrl), ("notifications:alertmanager:url", Notifications.Alertmanager.Url), ("notifications:externalUrl", Notifications.ExternalUrl) })
        {
            if (url is not null)
            {
                HttpUrl(name, url, errors);
            }
        }

        foreach (var (name, file) in new[]
        {
            ("prometheus:bearerTokenFile", Prometheus.BearerTokenFile), ("prometheus:passwordFile", Prometheus.PasswordFile), ("http:apiTokenFile", Http.ApiTokenFile),
            ("http:readTokenFile", Http.ReadTokenFile), ("http:deployTokenFile", Http.DeployTokenFile),
            ("notifications:slack:botTokenFile", Notifications.Slack.BotTokenFile), ("notifications:slack:signingSecretFile", Notifications.Slack.SigningSecretFile),
            ("notifications:pagerDuty:routingKeyFile", Notifications.PagerDuty.RoutingKeyFile),
        })
        {
            if (file is not null && !File.Exists(file))
            {
                errors.Add($"{name}: {file} does not exist");
            }
        }

        return errors;
    }

    /// <summary>
    /// <c>storage.postgres</c>: one of the two set, its file there and not empty, the string parseable with a host. Parsing
    /// registers the password (and the whole string) as secrets, inline, from the environment or from the file alike, so
    /// from here on it is redacted from every log line. No message repeats the string.
    /// </summary>
    private void CheckPostgres(List<string> errors)
    {
        var inline = !string.IsNullOrWhiteSpace(Storage.Postgres.ConnectionString);
        var file = Storage.Postgres.ConnectionStringFile;
        if (inline && file is not null)
        {
            errors.Add("storage:postgres: set storage.postgres.connectionString or storage.postgres.connectionStringFile, not both");
            return;
        }

        if (!Storage.UsesPostgres)
        {
            return;
        }

        var key = PostgresSettingKey;
        if (file is not null && !File.Exists(file))
        {
            errors.Add($"{key}: {file} does not exist; storage.postgres.connectionStringFile names a file holding the PostgreSQL connection string");
            return;
        }

        string? connectionString;
        try
        {
            connectionString = ResolvePostgresConnectionString();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            errors.Add($"{key}: cannot read {file}: {e.Message}");
            return;
        }

        if (string.IsNullOrWhiteSpace(connectionString))
        {
            errors.Add($"{key}: {file} is empty; it must hold the PostgreSQL connection string (storage.postgres)");
            return;
        }

        try
        {
            _ = PostgresStore.Describe(connectionString);
        }
        catch (ArgumentException e)
        {
            errors.Add($"{key}: {e.Message}");
        }
    }

    /// <summary>The setting the PostgreSQL connection string comes from, as a settings key (<c>storage:postgres:connectionString</c> or <c>...File</c>).</summary>
    public string PostgresSettingKey => Storage.Postgres.ConnectionStringFile is null ? "storage:postgres:connectionString" : "storage:postgres:connectionStringFile";

    /// <summary>
    /// The store, for messages and logs: the SQLite file, or the PostgreSQL database (<c>host:port/database</c> and the
    /// setting it comes from; never the user or password).
    /// </summary>
    public string DescribeStore()
    {
        if (!Storage.UsesPostgres)
        {
            return Storage.Path;
        }

        var setting = PostgresSettingKey.Replace(':', '.');
        try
        {
            return $"PostgreSQL {PostgresStore.Describe(ResolvePostgresConnectionString()!)} ({setting})";
        }
        catch (Exception e) when (e is ArgumentException or IOException or UnauthorizedAccessException)
        {
            return $"PostgreSQL ({setting})";
        }
    }

    /// <summary>
    /// A configured token as the daemon would read it, or null (none, or not usable: adds why to <paramref name="errors"/>).
    /// <paramref name="key"/> names the setting the token came from.
    /// </summary>
    private static string? CheckToken(string key, string? file, Func<string?> resolve, List<string> errors)
    {
        string? token;
        try
        {
            token = file is not null && !File.Exists(file) ? null : resolve();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            errors.Add($"{key}: cannot read {file}: {e.Message}");
            return null;
        }

        if (file is not null && token is { Length: 0 })
        {
            errors.Add($"{key}: {file} is empty; an empty token would let anyone in");
            return null;
        }

        if (token is not null && !Api.ApiToken.IsSendable(token))
        {
            // No client could send it (a header is one line of ASCII): every API call would be refused.
            errors.Add($"{key}: the token has characters that cannot be sent in an HTTP header (a line break, a control or non-ASCII character)");
            return null;
        }

        return token;
    }

    /// <summary>The URL if it is an absolute http:// or https:// URL with a host; otherwise adds why not and returns null.</summary>
    private static Uri? HttpUrl(string name, string value, List<string> errors)
    {
        // "localhost:9090" parses as an absolute URI with the scheme "localhost": check the scheme, not just the parse.
        if (!Uri.TryCreate(value, UriKind.Absolute, out var url) || url.Scheme is not ("http" or "https"))
        {
            var hint = value.Contains("://", StringComparison.Ordinal) || value.Contains(' ', StringComparison.Ordinal) ? "" : $" (did you mean http://{value}?)";
            errors.Add($"{name}: '{value}' is not an http:// or https:// URL{hint}");
            return null;
        }

        if (url.Host.Length == 0)
        {
            errors.Add($"{name}: '{value}' has no host");
            return null;
        }

        return url;
    }

    /// <summary>The Prometheus client settings, with secrets read from their files.</summary>
    public PrometheusOptions ToPrometheusOptions() => new()
    {
        BaseAddress = new Uri(Prometheus.Url.EndsWith('/') ? Prometheus.Url : Prometheus.Url + "/"),
        BearerToken = Prometheus.BearerTokenFile is { } f ? SecretFileAccess.ReadOperatorSecret(f) : null,
        Username = Prometheus.Username,
        Password = Prometheus.PasswordFile is { } p ? SecretFileAccess.ReadOperatorSecret(p) : null,
        Timeout = PromDuration.Parse(Prometheus.Timeout),
        Headers = new Dictionary<string, string>(Prometheus.Headers, StringComparer.OrdinalIgnoreCase),
        MaxResponseBytes = Prometheus.Limits.MaxResponseBytes,
        MaxSeries = Prometheus.Limits.MaxSeries,
        MaxLabelLength = Prometheus.Limits.MaxLabelLength,
    };

    /// <summary>The PostgreSQL connection string (<c>storage.postgres</c>, read from its file if one is named), or null: SQLite.</summary>
    public string? ResolvePostgresConnectionString() =>
        Storage.Postgres.ConnectionStringFile is { } f ? SecretFileAccess.ReadOperatorSecret(f)
        : string.IsNullOrWhiteSpace(Storage.Postgres.ConnectionString) ? null : Storage.Postgres.ConnectionString.Trim();

    /// <summary>The read-only API token (<c>http.readTokenFile</c>), if one is configured.</summary>
    public string? ResolveReadToken() => Http.ReadTokenFile is { } f ? SecretFileAccess.ReadOperatorSecret(f) : null;

    /// <summary>The deploy API token (<c>http.deployTokenFile</c>), if one is configured.</summary>
    public string? ResolveDeployToken() => Http.DeployTokenFile is { } f ? SecretFileAccess.ReadOperatorSecret(f) : null;

    /// <summary>The admin API token, if one is configured; null means the daemon generates one at start (<see cref="Api.ApiToken"/>).</summary>
    public string? ResolveApiToken() =>
        Http.ApiTokenFile is { } f ? SecretFileAccess.ReadOperatorSecret(f) : string.IsNullOrWhiteSpace(Http.ApiToken) ? null : Api.ApiToken.Normalize(Http.ApiToken);
}
