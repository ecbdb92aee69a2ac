using System.Diagnostics;
using System.Globalization;
using RollbackSentinel.Testing.Net;

namespace BlueGreenDemo;

/// <summary>One DemoShop (<c>dotnet DemoShop.dll --color C --urls http://127.0.0.1:PORT</c>) and its admin endpoint.</summary>
public sealed class DemoShopProcess : IAsyncDisposable
{
    private const int MaxStartAttempts = 4;
    private static readonly TimeSpan StartupTimeout = TimeSpan.FromSeconds(30);

    private readonly ChildProcess _process;
    private readonly HttpClient _http;

    private DemoShopProcess(string color, Uri address, ChildProcess process)
    {
        Color = color;
        Address = address;
        _process = process;
        _http = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(5) };
    }

    public string Color { get; }

    /// <summary>e.g. <c>http://127.0.0.1:41234/</c>.</summary>
    public Uri Address { get; }

    public ChildProcess Process => _process;

    public static async Task<DemoShopProcess> StartAsync(string dll, string color, string workingDirectory, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            var address = new Uri($"http://127.0.0.1:{FreePort.Next().ToString(CultureInfo.InvariantCulture)}/");
            var process = ChildProcess.StartDotnet($"DemoShop {color}", dll, ["--color", color, "--urls", address.AbsoluteUri.TrimEnd('/')], workingDirectory: workingDirectory);
            var shop = new DemoShopProcess(color, address, process);
            try
            {
                if (await shop.WaitHealthyAsync(cancellationToken))
                {
                    return shop;
                }
            }
            catch
            {
                await shop.DisposeAsync();
                throw;
            }

            var log = process.RecentLog;
            await shop.DisposeAsync();
            if (attempt == MaxStartAttempts || !log.Contains("address already in use", StringComparison.OrdinalIgnoreCase))
            {
                throw new InvalidOperationException($"DemoShop {color} did not start on {address} (attempt {attempt}). Its output:{Environment.NewLine}{log}");
            }
        }
    }

    /// <summary>POST /admin/fault: from now on, answer this share of requests with HTTP 500 and add this latency.</summary>
    public async Task SetFaultAsync(double errorRate, int latencyMs, CancellationToken cancellationToken)
    {
        var uri = FormattableString.Invariant($"admin/fault?errorRate={errorRate}&latencyMs={latencyMs}");
        using var response = await _http.PostAsync(new Uri(uri, UriKind.Relative), null, cancellationToken);
        var body = await response.Content.ReadAsStringAsync(cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"POST {uri} to DemoShop {Color}: HTTP {(int)response.StatusCode}: {body}");
        }
    }

    public async ValueTask DisposeAsync()
    {
        _http.Dispose();
        await _process.StopAsync(TimeSpan.FromSeconds(5));
        await _process.DisposeAsync();
    }

    private async Task<bool> WaitHealthyAsync(CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < StartupTimeout)
        {
            if (_process.HasExited)
            {
                return false;
            }

            try
            {
                using var response = await _http.GetAsync(new Uri("healthz", UriKind.Relative), cancellationToken);
                if (response.IsSuccessStatusCode)
                {
                    return true;
                }
            }
            catch (Exception e) when (e is HttpRequestException || (e is TaskCanceledException && !cancellationToken.IsCancellationRequested))
            {
                // Not listening yet.
            }

            await Task.Delay(100, cancellationToken);
        }

        throw new TimeoutException($"DemoShop {Color} did not answer /healthz on {Address} within {StartupTimeout.TotalSeconds}s. Its output:{Environment.NewLine}{_process.RecentLog}");
    }
}
