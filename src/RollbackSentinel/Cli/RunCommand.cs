using System.CommandLine;
using Microsoft.Extensions.Configuration;
using RollbackSentinel.Api;
using RollbackSentinel.Hosting;

namespace RollbackSentinel.Cli;

/// <summary>
/// <c>run</c>: the daemon. Settings come from defaults, then <c>--config</c>, then <c>SENTINEL__*</c> environment
/// variables, then the options given here. Exits 0 after a graceful stop (SIGTERM), 2 on bad settings.
/// </summary>
internal static class RunCommand
{
    public const string EnvironmentPrefix = "SENTINEL__";

    public static Command Create()
    {
        var config = new Option<FileInfo?>("--config") { Description = "The daemon's settings (YAML), e.g. sentinel.yaml." };
        var rules = new Option<string?>("--rules") { Description = "The rules folder (default ./rules)." };
        var prometheus = new Option<string?>("--prometheus") { Description = "The Prometheus URL (default http://127.0.0.1:9090)." };
        var listen = new Option<string?>("--listen") { Description = "The HTTP API address (default http://127.0.0.1:8080)." };
        var logFormat = new Option<string>("--log-format") { Description = "text (default) or json.", DefaultValueFactory = _ => "text" };
        logFormat.AcceptOnlyFromAmong("text", "json");
        var command = new Command("run", "Run the daemon: evaluate the rules on their schedules, act, and serve the API and /metrics.")
        {
            config, rules, prometheus, listen, logFormat,
        };

        command.SetAction(async (result, ct) =>
        {
            var error = result.InvocationConfiguration.Error;
            var overrides = new Dictionary<string, string?>();
            void Override(string key, string? value)
            {
                if (value is not null)
                {
                    overrides[key] = value;
                }
            }

            Override("rules", result.GetValue(rules));
            Override("prometheus:url", result.GetValue(prometheus));
            Override("http:listen", result.GetValue(listen));

            SentinelOptions options;
            try
            {
                options = Load(result.GetValue(config)?.FullName, overrides);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or YamlDotNet.Core.YamlException or InvalidOperationException)
            {
                await error.WriteLineAsync($"error: cannot read the settings: {e.Message}").ConfigureAwait(false);
                return ExitCodes.Usage;
            }

            var problems = options.Validate();
            if (problems.Count > 0)
            {
                foreach (var p in problems)
                {
                    await error.WriteLineAsync($"error: {p}").ConfigureAwait(false);
                }

                return ExitCodes.Usage;
            }

            // One daemon per store: a second one would mark the first one's running actions interrupted, run
            // its pending ones and act twice. The lock is held until the process exits.
            var dataDir = Path.GetDirectoryName(Path.GetFullPath(options.Storage.Path))!;
            Directory.CreateDirectory(dataDir);
            var lockPath = Path.Combine(dataDir, "sentinel.lock");
            FileStream storeLock;
            try
            {
                storeLock = new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException)
            {
                await error.WriteLineAsync($"error: another rollback-sentinel is running on {dataDir} ({lockPath} is locked); one daemon per store (use a Recreate rollout strategy)").ConfigureAwait(false);
                return ExitCodes.Usage;
            }

            await using var heldLock = storeLock;
            var format = result.GetValue(logFormat) == "json" ? LogFormat.Json : LogFormat.Text;
            await using var app = DaemonHost.Build(options, format);
            var token = app.Services.GetRequiredService<ApiToken>();
            app.Logger.LogInformation(
                "RollbackSentinel starting: rules {Rules}, Prometheus {Prometheus}, store {Store}, API on {Listen} (token from {TokenSource})",
                options.Rules, options.Prometheus.Url, options.Storage.Path, options.Http.Listen, token.Source);
            await app.RunAsync(ct).ConfigureAwait(false);
            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>Reads the settings in order of precedence: defaults, file, environment, command line.</summary>
    public static SentinelOptions Load(string? configFile, IReadOnlyDictionary<string, string?> overrides)
    {
        var builder = new ConfigurationBuilder();
        if (configFile is not null)
        {
            if (!File.Exists(configFile))
            {
                throw new IOException($"{configFile} does not exist");
            }

            builder.Add(new YamlConfigurationSource(configFile));
        }

        builder.AddEnvironmentVariables(EnvironmentPrefix);
        builder.AddInMemoryCollection(overrides);
        return builder.Build().Get<SentinelOptions>() ?? new SentinelOptions();
    }
}
