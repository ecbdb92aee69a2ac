using System.CommandLine;
using RollbackSentinel.Api;
using RollbackSentinel.Hosting;

namespace RollbackSentinel.Cli;

/// <summary>
/// <c>run</c>: the daemon. Settings come from defaults, then <c>--config</c>, then <c>SENTINEL__*</c> environment
/// variables, then the options given here. Exits 0 after a graceful stop (SIGTERM), 2 on bad settings or when
/// the daemon cannot start (address in use, store unusable, rules folder missing), with one line saying why.
/// </summary>
internal static class RunCommand
{
    public const string EnvironmentPrefix = SettingsLoader.EnvironmentPrefix;

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
            var sources = new Dictionary<string, string>();
            void Override(string key, Option<string?> option)
            {
                if (result.GetValue(option) is { } value)
                {
                    overrides[key] = value;
                    sources[key] = option.Name;
                }
            }

            Override("rules", rules);
            Override("prometheus:url", prometheus);
            Override("http:listen", listen);

            // Every problem, before anything starts: a daemon started on bad settings would look healthy and guard nothing.
            var settings = SettingsLoader.Load(result.GetValue(config)?.FullName, overrides, sources);
            var problems = settings.Problems.ToList();
            if (problems.Count > 0)
            {
                foreach (var p in problems)
                {
                    await error.WriteLineAsync($"error: {p}").ConfigureAwait(false);
                }

                return ExitCodes.Usage;
            }

            var options = settings.Options;

            // One daemon per store: a second one would mark the first one's running actions interrupted, run
            // its pending ones and act twice. The lock is held until the process exits. On PostgreSQL, where several
            // sentinels share the store by design, it still keeps one daemon per data folder (its generated API token).
            var dataDir = Path.GetDirectoryName(Path.GetFullPath(options.Storage.Path))!;
            FileStream storeLock;
            var lockPath = Path.Combine(dataDir, "sentinel.lock");
            try
            {
                Directory.CreateDirectory(dataDir);
                storeLock = new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (File.Exists(lockPath))
            {
                await error.WriteLineAsync(options.Storage.UsesPostgres
                    ? $"error: another rollback-sentinel is running on {dataDir} ({lockPath} is locked); sentinels sharing PostgreSQL each need their own data folder (storage.path)"
                    : $"error: another rollback-sentinel is running on {dataDir} ({lockPath} is locked); one daemon per store (use a Recreate rollout strategy)").ConfigureAwait(false);
                return ExitCodes.Usage;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                await error.WriteLineAsync($"error: cannot use the data folder {dataDir}: {e.Message}").ConfigureAwait(false);
                return ExitCodes.Usage;
            }

            await using var heldLock = storeLock;
            var format = result.GetValue(logFormat) == "json" ? LogFormat.Json : LogFormat.Text;
            await using var app = DaemonHost.Build(options, format);
            var token = app.Services.GetRequiredService<ApiToken>();
            app.Logger.LogInformation(
                "RollbackSentinel starting: rules {Rules}, Prometheus {Prometheus}, store {Store}, API on {Listen} (token from {TokenSource})",
                options.Rules, options.Prometheus.Url, options.DescribeStore(), options.Http.Listen, token.Source);
            if (options.Backends.Count > 0)
            {
                app.Logger.LogInformation("Metrics backends: {Backends}; policies without spec.backend use {Default}", options.DescribeBackends(), options.DefaultBackend);
            }
            try
            {
                await app.StartAsync(ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
            {
                // Stop what did start (its loops, the scheduler) before the host is disposed, within a bound: a failed
                // start must end the process with one clear line, never leave it half up.
                using var stopping = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                try
                {
                    await app.StopAsync(stopping.Token).ConfigureAwait(false);
                }
                catch (Exception stopFailure) when (stopFailure is OperationCanceledException or AggregateException or InvalidOperationException or IOException)
                {
                    // Already failing; the line below says why.
                }

                await error.WriteLineAsync($"error: {StartFailure.Describe(e, options)}").ConfigureAwait(false);
                return ExitCodes.Usage;
            }

            await app.WaitForShutdownAsync(ct).ConfigureAwait(false);
            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>
    /// Reads the settings in order of precedence: defaults, file, environment, command line. Throws
    /// <see cref="InvalidOperationException"/> listing unknown keys and unreadable values; values are not validated.
    /// </summary>
    public static SentinelOptions Load(string? configFile, IReadOnlyDictionary<string, string?> overrides)
    {
        var settings = SettingsLoader.Load(configFile, overrides);
        return settings.UnknownOrMalformed.Count == 0
            ? settings.Options
            : throw new InvalidOperationException(string.Join(Environment.NewLine, settings.UnknownOrMalformed));
    }
}
