using Microsoft.Extensions.Options;
using Quartz;
using RollbackSentinel.Actions;
using RollbackSentinel.Api;
using RollbackSentinel.Core.Incidents;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Daemon;
using RollbackSentinel.Prometheus;
using RollbackSentinel.StatusPage;
using RollbackSentinel.Storage;
using RollbackSentinel.Telemetry;
using Serilog;
using Serilog.Configuration;
using Serilog.Events;
using Serilog.Formatting.Json;

namespace RollbackSentinel.Hosting;

/// <summary>How the daemon writes its log.</summary>
public enum LogFormat
{
    Text,
    Json,
}

/// <summary>Builds the daemon: DI wiring, the HTTP API, and the hosted services in the order they must start.</summary>
internal static class DaemonHost
{
    /// <summary>
    /// Evaluations (and the actions they start) that may run at once. They are asynchronous, so this bounds
    /// load on Prometheus rather than threads; Quartz's default of 10 would let ten slow webhooks stall every policy.
    /// </summary>
    public const int MaxConcurrentEvaluations = 64;

    private const string TextTemplate = "{Timestamp:yyyy-MM-ddTHH:mm:ss.fffzzz} {Level:u3} {Message:lj}{NewLine}{Exception}";

    public static WebApplication Build(SentinelOptions options, LogFormat logFormat, Action<IServiceCollection>? overrides = null)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            // The daemon's settings are its own file (SettingsLoader), never an appsettings.json in whatever folder it was
            // started from; and the web host's reload of that file put an inotify watch on every folder below the working
            // directory (a sidecar started from / would watch the whole filesystem; a checkout's watch list grew with
            // every folder a build made).
            ContentRootPath = AppContext.BaseDirectory,
            Args = ["--hostBuilder:reloadConfigOnChange=false"],
        });
        builder.WebHost.UseUrls(options.Http.Listen);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = options.ShutdownTimeoutValue);

        builder.Logging.ClearProviders();
        builder.Logging.AddSerilog(CreateLogger(logFormat), dispose: true);

        var services = builder.Services;
        services.AddSingleton(Options.Create(options));
        services.AddSingleton(options);
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton<DaemonState>();
        services.AddSingleton<PolicyRegistry>();
        services.AddSingleton<ApiToken>();
        services.AddSentinelApi();
        services.AddStatusPage();
        services.AddSingleton(options.SecretFileAccess());
        services.AddSingleton<Core.Secrets.ISecretFileReader>(sp => sp.GetRequiredService<Rules.SecretFileAccess>());
        services.AddProblemDetails();
        services.AddApiJson();
        services.AddSentinelTelemetry();
        services.AddSentinelStore(options);

        // The client applies its own per-call timeout, so HttpClient's is off.
        services.AddMetricsBackends(options);
        services.AddRollbackAdapters(options);
        services.AddTargetRevisionReader(options);
        services.AddSingleton<TargetChanges>();

        services.AddSingleton<IHumanPager, LogPager>();
        services.AddSingleton<ActionExecutor>();
        services.AddSingleton<RunningActions>();
        services.AddSingleton<QueryChangeDetector>();
        services.AddSingleton<PolicyEvaluationService>();
        services.AddSingleton<PolicyScheduler>();
        services.AddSingleton<RulesWatcher>();

        // Start order matters: store and rules first, then the file watcher, then the scheduler.
        services.AddSingleton<DaemonStartup>();
        services.AddHostedService(sp => sp.GetRequiredService<DaemonStartup>());
        services.AddHostedService(sp => sp.GetRequiredService<RulesWatcher>());
        services.AddClusterMembership();
        services.AddPolicyScheduling(options, MaxConcurrentEvaluations);
        services.AddHostedService<SchedulerHost>();
        services.AddSingleton<PendingActions>();
        services.AddHostedService(sp => sp.GetRequiredService<PendingActions>());
        services.AddHostedService<ChangeDetectionService>();
        services.AddNotificationChannels(options);
        services.AddSingleton<NotificationDispatcher>();
        services.AddHostedService(sp => sp.GetRequiredService<NotificationDispatcher>());
        services.AddSingleton<ManualRollbacks>();
        services.AddSingleton<ConfirmationService>();
        services.AddHostedService(sp => sp.GetRequiredService<ConfirmationService>());
        services.AddHostedService<RetentionService>();
        services.AddHostedService<LeaseSweeper>();
        // The image's executable only: a daemon hosted in a bigger process (the tests host many) keeps its process's GC to itself.
        if (!System.Runtime.CompilerServices.RuntimeFeature.IsDynamicCodeSupported)
        {
            services.AddHostedService<StartupMemoryRelease>();
        }

        overrides?.Invoke(services);

        var app = builder.Build();
        app.MapSentinelApi();
        app.MapStatusPage();
        app.MapSlackEndpoints();
        app.MapPrometheusMetrics("/metrics").AllowAnonymous();
        return app;
    }

    private static Serilog.ILogger CreateLogger(LogFormat format)
    {
        var config = new LoggerConfiguration()
            .MinimumLevel.Information()
            .MinimumLevel.Override("Microsoft", Serilog.Events.LogEventLevel.Warning)
            .MinimumLevel.Override("Microsoft.Hosting.Lifetime", Serilog.Events.LogEventLevel.Information)
            .MinimumLevel.Override("System.Net.Http", Serilog.Events.LogEventLevel.Warning)
            .MinimumLevel.Override("Quartz", Serilog.Events.LogEventLevel.Warning)
            .Enrich.FromLogContext()

            // A failed start is reported by `run` as one line on stderr (StartFailure), not as this stack trace.
            .Filter.ByExcluding(e => e.MessageTemplate.Text == "Hosting failed to start");
        // Every event goes through SafeLogSink first: known secrets redacted, and in text, control characters escaped.
        return LoggerSinkConfiguration.Wrap(
                config.WriteTo,
                console => new SafeLogSink(console, escapeControlCharacters: format == LogFormat.Text),
                to => _ = format == LogFormat.Json
                    ? to.Console(new JsonFormatter(renderMessage: true))
                    : to.Console(outputTemplate: TextTemplate, formatProvider: System.Globalization.CultureInfo.InvariantCulture),
                LogEventLevel.Verbose,
                levelSwitch: null)
            .CreateLogger();
    }
}
