using System.ComponentModel.DataAnnotations;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Rules;
using Catalog = RollbackSentinel.Rules.BackendCatalog;

namespace RollbackSentinel.Hosting;

/// <summary><c>backends:</c> and <c>defaultBackend:</c>, the metrics backends beside (or instead of) the <c>prometheus:</c> block.</summary>
public sealed partial class SentinelOptions
{
    /// <summary>
    /// Named metrics backends (docs/backends.md): <c>backends: {vm: {type: victoriametrics, url: ...}, graphite: {type: graphite, url: ...}}</c>.
    /// A policy picks one with <c>spec.backend: NAME</c>. The <c>prometheus:</c> block is the backend named <c>default</c>.
    /// </summary>
    public Dictionary<string, BackendSettings> Backends { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>The backend of policies without <c>spec.backend</c>: <c>default</c> (the <c>prometheus:</c> block) unless set.</summary>
    public string DefaultBackend { get; set; } = Catalog.DefaultName;

    /// <summary>One entry of <c>backends:</c>.</summary>
    public sealed class BackendSettings
    {
        /// <summary>prometheus, victoriametrics, graphite, influxdb or datadog.</summary>
        public string? Type { get; set; }

        /// <summary>The server's root URL. For datadog, optional: the API of <see cref="Site"/>.</summary>
        public string? Url { get; set; }

        /// <summary>Extra request headers (<c>X-Scope-OrgID</c> for Mimir/Cortex).</summary>
        public Dictionary<string, string> Headers { get; set; } = new(StringComparer.OrdinalIgnoreCase);

        public string? BearerTokenFile { get; set; }

        public string? Username { get; set; }

        public string? PasswordFile { get; set; }

        public string Timeout { get; set; } = "10s";

        /// <summary>For graphite, influxdb and datadog, which answer points: the newest point at most this old is the value now (5m, as Prometheus).</summary>
        public string Lookback { get; set; } = "5m";

        /// <summary>influxdb: the database queried (required).</summary>
        public string? Database { get; set; }

        /// <summary>influxdb: the retention policy, when not the database's default.</summary>
        public string? RetentionPolicy { get; set; }

        /// <summary>datadog: the site (datadoghq.com, datadoghq.eu, us3.datadoghq.com, us5.datadoghq.com, ap1.datadoghq.com, ddog-gov.com).</summary>
        public string? Site { get; set; }

        /// <summary>datadog: a file holding the API key (sent as DD-API-KEY).</summary>
        public string? ApiKeyFile { get; set; }

        /// <summary>datadog: a file holding the application key (sent as DD-APPLICATION-KEY).</summary>
        public string? ApplicationKeyFile { get; set; }

        public PrometheusLimitSettings Limits { get; set; } = new();
    }

    /// <summary>The backends as the rules see them: names, types, the default.</summary>
    public Catalog ToBackendCatalog()
    {
        var types = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase) { [Catalog.DefaultName] = "prometheus" };
        foreach (var (name, backend) in Backends)
        {
            if (!Catalog.SameName(name, Catalog.DefaultName) && backend.Type is { } type && Catalog.Types.Contains(type))
            {
                types[name] = type;
            }
        }

        return new Catalog(types, types.ContainsKey(DefaultBackend) ? DefaultBackend : Catalog.DefaultName);
    }

    /// <summary>The backends for the start-up log: name, type and address (no credentials, no headers).</summary>
    public string DescribeBackends() => string.Join(", ", Backends.OrderBy(b => b.Key, StringComparer.Ordinal)
        .Select(b => $"{b.Key} ({b.Value.Type} {b.Value.Url ?? b.Value.Site ?? "datadoghq.com"})")
        .Prepend($"{Catalog.DefaultName} (prometheus {Prometheus.Url})"));

    /// <summary>Every problem with <c>backends:</c> and <c>defaultBackend:</c> (the commands that query backends check only these).</summary>
    public IReadOnlyList<string> BackendProblems()
    {
        var errors = new List<string>();
        ValidateBackends(errors);
        return errors;
    }

    [System.Diagnostics.CodeAnalysis.UnconditionalSuppressMessage("Trimming", "IL2026", Justification = "The limits are a nested settings class, kept whole for the Native AOT build (SettingsSchema.For).")]
    private void ValidateBackends(List<string> errors)
    {
        if (!Catalog.SameName(DefaultBackend, Catalog.DefaultName) && !Backends.ContainsKey(DefaultBackend))
        {
            errors.Add($"defaultBackend: '{DefaultBackend}' is not one of backends: ({(Backends.Count == 0 ? "none configured" : string.Join(", ", Backends.Keys.Order(StringComparer.Ordinal)))})");
        }

        foreach (var problem in RollbackSentinel.Backends.Http.RequestHeaders.Problems(Prometheus.Headers))
        {
            errors.Add($"prometheus:headers: {problem}");
        }

        foreach (var (name, b) in Backends.OrderBy(b => b.Key, StringComparer.Ordinal))
        {
            var key = $"backends:{name}";
            foreach (var problem in RollbackSentinel.Backends.Http.RequestHeaders.Problems(b.Headers))
            {
                errors.Add($"{key}:headers: {problem}");
            }

            if (Catalog.SameName(name, Catalog.DefaultName))
            {
                errors.Add($"{key}: the name '{name}' is the prometheus: block's; give this backend another name");
                continue;
            }

            if (!PolicyParser.BackendName().IsMatch(name))
            {
                errors.Add($"{key}: '{name}' is not a backend name: use letters, digits, '-' and '_', starting with a letter, at most 63 characters");
            }

            if (b.Type is null || !Catalog.Types.Contains(b.Type))
            {
                errors.Add($"{key}:type: {(b.Type is null ? "is required" : $"'{b.Type}' is not a backend type")}; one of {string.Join(", ", Catalog.Types)}");
                continue;
            }

            if (b.Type == "datadog")
            {
                if (b.Url is null && b.Site is not null && RollbackSentinel.Backends.Datadog.DatadogOptions.SiteApiAddress(b.Site) is null)
                {
                    errors.Add($"{key}:site: '{b.Site}' is not a Datadog site (datadoghq.com, datadoghq.eu, us3.datadoghq.com, us5.datadoghq.com, ap1.datadoghq.com, ddog-gov.com)");
                }

                if (b.ApiKeyFile is null || b.ApplicationKeyFile is null)
                {
                    errors.Add($"{key}: a datadog backend needs apiKeyFile and applicationKeyFile");
                }

                if (b.Headers.Count > 0 || b.BearerTokenFile is not null || b.Username is not null || b.PasswordFile is not null)
                {
                    errors.Add($"{key}: a datadog backend authenticates with apiKeyFile and applicationKeyFile only; headers, bearerTokenFile, username and passwordFile are not sent to Datadog");
                }
            }
            else if (b.Url is null)
            {
                errors.Add($"{key}:url: is required");
            }

            if (b.Url is not null && HttpUrl($"{key}:url", b.Url, errors) is { UserInfo.Length: > 0 })
            {
                errors.Add($"{key}:url: must not contain credentials; use username with passwordFile, or bearerTokenFile");
            }

            if (b.Type == "influxdb" && string.IsNullOrWhiteSpace(b.Database))
            {
                errors.Add($"{key}:database: is required for an influxdb backend");
            }

            foreach (var (field, value) in new[] { ("timeout", b.Timeout), ("lookback", b.Lookback) })
            {
                if (!PromDuration.TryParse(value, out var d, out var why))
                {
                    errors.Add($"{key}:{field}: {why}");
                }
                else if (d <= TimeSpan.Zero)
                {
                    errors.Add($"{key}:{field}: must be positive");
                }
            }

            if (b.BearerTokenFile is not null && b.Username is not null)
            {
                errors.Add($"{key}: set bearerTokenFile or username with passwordFile, not both");
            }

            if (b.PasswordFile is not null && b.Username is null)
            {
                errors.Add($"{key}:passwordFile: is set but username is not");
            }

            if (PromDuration.TryParse(b.Timeout, out var timeout, out _) && timeout > RollbackSentinel.Backends.BackendOptions.MaxTimeout)
            {
                errors.Add($"{key}:timeout: at most {PromDuration.Format(RollbackSentinel.Backends.BackendOptions.MaxTimeout)}; a guard that waits longer is no longer guarding");
            }

            foreach (var (field, file) in new[] { ("bearerTokenFile", b.BearerTokenFile), ("passwordFile", b.PasswordFile), ("apiKeyFile", b.ApiKeyFile), ("applicationKeyFile", b.ApplicationKeyFile) })
            {
                if (file is not null && !File.Exists(file))
                {
                    errors.Add($"{key}:{field}: {file} does not exist");
                }
            }

            var limits = new List<ValidationResult>();
            if (!Validator.TryValidateObject(b.Limits, new ValidationContext(b.Limits), limits, validateAllProperties: true))
            {
                errors.AddRange(limits.Select(r => $"{key}:limits: {r.ErrorMessage}"));
            }
        }
    }
}
