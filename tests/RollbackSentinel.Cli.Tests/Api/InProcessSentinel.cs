using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using RollbackSentinel.Cli.Tests.Daemon;
using RollbackSentinel.Core.Incidents;
using RollbackSentinel.Hosting;
using RollbackSentinel.Testing.Net;

namespace RollbackSentinel.Cli.Tests.Api;

/// <summary>
/// The daemon built by <see cref="DaemonHost"/> and started in this process, so a test can read its endpoints
/// (<c>EndpointDataSource</c>), its store and its log. Two policies, <c>shop</c> and <c>other</c>, roll back through a webhook
/// receiver that records every call; Prometheus is unreachable, so nothing but a person can start a rollback.
/// </summary>
internal sealed class InProcessSentinel : IAsyncDisposable
{
    public const string Token = "in-process-token";

    private readonly string _root;

    private InProcessSentinel(string root, WebApplication app, LoopbackHttpServer webhook, LogCapture log, Uri baseAddress)
    {
        _root = root;
        App = app;
        Webhook = webhook;
        Log = log;
        BaseAddress = baseAddress;
    }

    public WebApplication App { get; }

    public LoopbackHttpServer Webhook { get; }

    public LogCapture Log { get; }

    public Uri BaseAddress { get; }

    public string Root => _root;

    /// <param name="extraSettings">Changes to the settings before the daemon is built (e.g. Slack's signing secret).</param>
    /// <param name="policy">
    /// The rule file of each of the two policies, from its name and the webhook receiver's address (default: a
    /// <c>threshold</c> trigger named <c>errors</c> that rolls back, evaluated every minute).
    /// </param>
    /// <param name="prometheus">The metrics backend (default: an unreachable address).</param>
    /// <param name="services">Changes to the daemon's services after its own (e.g. no scheduler, a metrics source of the test's).</param>
    public static async Task<InProcessSentinel> StartAsync(
        Action<SentinelOptions, string>? extraSettings = null, Func<string, Uri, string>? policy = null, Uri? prometheus = null, Action<IServiceCollection>? services = null)
    {
        var root = Directory.CreateTempSubdirectory("sentinel-inproc-").FullName;
        var webhook = LoopbackHttpServer.Start(new CannedResponse(200, "{\"ok\":true}"));
        var rules = Path.Combine(root, "rules");
        Directory.CreateDirectory(rules);
        foreach (var name in new[] { "shop", "other" })
        {
            await File.WriteAllTextAsync(Path.Combine(rules, $"{name}.yaml"), policy is not null ? policy(name, webhook.BaseAddress) : $"""
                apiVersion: rollback-sentinel/v1
                kind: RollbackPolicy
                metadata:
                  name: {name}
                spec:
                  target:
                    webhook:
                      url: {webhook.BaseAddress}rollback-{name}
                  schedule:
                    interval: 1m
                  triggers:
                    - name: errors
                      threshold:
                        query: sum(rate(http_requests_total[1m]))
                        op: ">"
                        value: 1
                      action: rollback
                """);
        }

        var port = FreePort.Next();
        var options = new SentinelOptions
        {
            Rules = rules,
            Prometheus = new SentinelOptions.PrometheusSettings { Url = prometheus?.ToString() ?? "http://127.0.0.1:9/", Timeout = "1s" },
            Storage = new SentinelOptions.StorageSettings { Path = Path.Combine(root, "data", "sentinel.db") },
            Http = new SentinelOptions.HttpSettings { Listen = $"http://127.0.0.1:{port}", ApiToken = Token },
            ShutdownTimeout = "5s",
        };
        extraSettings?.Invoke(options, root);
        var log = new LogCapture();
        var app = DaemonHost.Build(options, LogFormat.Text, s =>
        {
            s.AddSingleton<ILoggerProvider>(log);
            services?.Invoke(s);
        });
        await app.StartAsync();
        var sentinel = new InProcessSentinel(root, app, webhook, log, new Uri($"http://127.0.0.1:{port}/"));
        using var probe = new HttpClient { BaseAddress = sentinel.BaseAddress };
        await Eventually.WaitAsync(async () => (await probe.GetAsync("readyz")).IsSuccessStatusCode, TimeSpan.FromSeconds(30), "the in-process daemon to be ready");
        return sentinel;
    }

    public SentinelApi Api(string? token = Token) => new(BaseAddress, token);

    public string Url => BaseAddress.ToString();

    /// <summary>Every incident in the store, with its answers: what a refused request must not have changed.</summary>
    public async Task<IReadOnlyList<IncidentTimeline>> StoredAsync()
    {
        var store = App.Services.GetRequiredService<IIncidentStore>();
        var list = new List<IncidentTimeline>();
        foreach (var incident in await store.ListIncidentsAsync(null, 1000, CancellationToken.None))
        {
            list.Add((await store.GetIncidentAsync(incident.Id, CancellationToken.None))!);
        }

        return list;
    }

    /// <summary>The token file for the CLI (<c>--token-file</c>).</summary>
    public string TokenFile()
    {
        var path = Path.Combine(_root, "cli-token");
        File.WriteAllText(path, Token);
        return path;
    }

    public async ValueTask DisposeAsync()
    {
        await App.StopAsync();
        await App.DisposeAsync();
        await Webhook.DisposeAsync();
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
            // SQLite may hold the file a moment longer; the temp folder is cleaned by the OS.
        }
    }
}

/// <summary>Every log entry the daemon writes (message and exception), in order.</summary>
internal sealed class LogCapture : ILoggerProvider
{
    private readonly ConcurrentQueue<string> _entries = new();

    public IReadOnlyList<string> Entries => [.. _entries];

    public string Text => string.Join('\n', _entries);

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    private sealed class Logger(LogCapture owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information || !category.StartsWith("Microsoft", StringComparison.Ordinal);

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            owner._entries.Enqueue($"{logLevel} {category}[{eventId.Id}] {formatter(state, exception)}{(exception is null ? string.Empty : "\n" + exception)}");
    }
}
